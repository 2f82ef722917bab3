"""The forward and backward passes of :mod:`shallownet.network`, for large data.

Same formulas, same numbers, same signatures; two things differ. First, the
arrays of the hidden layers, shape ``(n_l, m)`` (or ``(K, n_l, m)`` for a
stack), are allocated once and written in place at every step, instead of
being allocated anew (at 60,000 examples each is tens of megabytes, and a fresh
one costs its page faults again). Second, the elementwise work (adding the bias,
the activation g and its derivative g') runs on blocks of examples in threads,
one per core: numpy runs each ufunc on a single core and releases the GIL
inside it, whereas the matrix products already use every core (BLAS).

Every activation is elementwise (``shallownet.activations``), so a block of
columns gives exactly the values the whole array gives. The products and the
sums over examples (``db``) are computed whole, as in the course's passes, so
the gradients are the same bit for bit (``tests/test_fused.py``), for every
activation that keeps its input's dtype, as the registered ones do (one that returns
float64 for a float32 network is cast back to float32 here, where the course's passes
would carry on in float64).

:func:`shallownet.stack.train_stack` uses these passes when a hidden layer holds
at least :data:`MIN_SIZE` numbers, and :mod:`shallownet.network`'s below that.
The arrays a callback gets (``state.Z``, ``state.A``, ``state.grads``) are then
rewritten at the next step: copy what you keep.
"""

from __future__ import annotations

import contextvars
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from .activations import Activation, sigmoid
from .network import Array, Params

MIN_SIZE = 2**20  # numbers in a hidden layer's activations (all networks of a stack)
BLOCK = 2**18  # numbers per block of elementwise work


def pays_off(params: Mapping[str, Array], m: int) -> bool:
    """Whether a hidden layer of these (possibly stacked) parameters, over ``m``
    examples, is large enough for the fused passes."""
    L = len(params) // 2
    return any(math.prod(params[f"W{l}"].shape[:-1]) * m >= MIN_SIZE for l in range(1, L))


class FusedPasses:
    """``forward`` and ``backward`` with the signatures of :mod:`shallownet.network`'s,
    writing into buffers kept from one step to the next."""

    def __init__(self, block: int = BLOCK) -> None:
        self.block = block  # numbers per block of elementwise work
        self._buffers: dict[tuple[str, int], Array] = {}

    def forward(
        self, params: Mapping[str, Array], X: Array, g: Activation
    ) -> tuple[list[Array], list[Array]]:
        L = len(params) // 2
        Z, A = [X], [X]
        for l in range(1, L + 1):
            W, b = params[f"W{l}"], params[f"b{l}"]
            if l == L:  # the output layer, one row: nothing to gain
                Z.append(W @ A[l - 1] + b)
                A.append(sigmoid(Z[l]))
                continue
            z = np.matmul(W, A[l - 1], out=self._buffer("Z", l, W, A[l - 1]))
            a = self._buffer("A", l, W, A[l - 1])

            def activate(cols: slice, z: Array = z, a: Array = a, b: Array = b) -> None:
                z[..., cols] += b
                a[..., cols] = g(z[..., cols])

            _in_blocks(activate, z, self.block)
            Z.append(z)
            A.append(a)
        return Z, A

    def backward(
        self,
        params: Mapping[str, Array],
        Z: Sequence[Array],
        A: Sequence[Array],
        Y: Array,
        g: Activation,
    ) -> Params:
        L = len(params) // 2
        m = Y.shape[-1]
        grads: Params = {}
        # Sigmoid output with cross-entropy: dJ/dZ[L] = A[L] - Y, the σ' factor
        # cancels against the derivative of the log (as in network.backward).
        dZ = A[L] - Y
        for l in range(L, 0, -1):
            grads[f"dW{l}"] = dZ @ A[l - 1].mT / m
            grads[f"db{l}"] = dZ.sum(axis=-1, keepdims=True) / m
            if l > 1:
                # Chain rule back through W[l] and the activation of layer l-1:
                # dZ[l-1] = W[l]ᵀ dZ[l] * g'(Z[l-1]), the product into a kept buffer,
                # the elementwise factor on blocks of examples in threads.
                W = params[f"W{l}"]
                back = np.matmul(W.mT, dZ, out=self._buffer("dZ", l - 1, W.mT, dZ))
                z, a = Z[l - 1], A[l - 1]

                def chain(cols: slice, back: Array = back, z: Array = z, a: Array = a) -> None:
                    back[..., cols] *= g.grad(z[..., cols], a[..., cols])

                _in_blocks(chain, back, self.block)
                dZ = back
        return grads

    def _buffer(self, name: str, l: int, left: Array, right: Array) -> Array:
        """The array ``name[l]`` for the product ``left @ right``, made at the first step."""
        shape = np.broadcast_shapes(left.shape[:-2], right.shape[:-2])
        shape = (*shape, left.shape[-2], right.shape[-1])
        dtype = np.result_type(left, right)
        buffer = self._buffers.get((name, l))
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = self._buffers[name, l] = np.empty(shape, dtype=dtype)
        return buffer


def _in_blocks(work: Callable[[slice], None], array: Array, block: int) -> None:
    """``work(cols)`` for blocks of columns (examples) covering ``array``, in threads.

    Each block runs in a copy of this thread's context, so ``np.errstate`` applies there
    as here (numpy keeps it in a context variable)."""
    rows = array.size // array.shape[-1]
    width = max(1, block // rows)
    blocks = [slice(start, start + width) for start in range(0, array.shape[-1], width)]
    futures = [_pool().submit(contextvars.copy_context().run, work, cols) for cols in blocks]
    for future in futures:
        future.result()


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="shallownet-fused")


# A forked child has none of its parent's threads: it makes its own pool.
os.register_at_fork(after_in_child=_pool.cache_clear)
