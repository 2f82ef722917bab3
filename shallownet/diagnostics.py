"""Diagnostics that make symmetry and saturation visible, as pure functions.

Hidden unit j of layer l is described by all of its parameters,
``u_j = (W[l][j, :], b[l][j], W[l+1][:, j])``: what it reads, its bias, and
how the next layer reads it. Two units with equal u compute the same function
and, by the backward formulas, receive the same gradient: they stay equal.

Metric names refer to the first hidden layer; deeper hidden layers add the
same metrics with a ``_h2``, ``_h3``... suffix. For a stack of K networks
(leading stack axis) every metric is an array of shape (K,).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .activations import Activation
from .network import Array, Network, forward, labels
from .stack import StackCallback, StackState
from .train import Callback, TrainState

Metrics = dict[str, Any]


def layer_suffix(l: int) -> str:
    """The metric-name suffix of hidden layer l: none for the first, ``_h2``, ``_h3``..."""
    return "" if l == 1 else f"_h{l}"


def _scalar(value: Any) -> Any:
    """Plain Python numbers for one network, arrays for a stack."""
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value


def hidden_units(params: Mapping[str, Array], l: int = 1) -> Array:
    """Stack ``u_j`` for the units of hidden layer l: shape (..., n_l, n_{l-1} + 1 + n_{l+1})."""
    W, b, W_next = params[f"W{l}"], params[f"b{l}"], params[f"W{l + 1}"]
    return np.concatenate([W, b, W_next.mT], axis=-1)


def symmetry(net: Network, rtol: float = 1e-6) -> Metrics:
    """How alike the hidden units are.

    Returns
    -------
    dict with
        ``sym_max_pair_dist``: max over j < k of ‖u_j − u_k‖;
        ``sym_rel_spread``: that divided by the mean ‖u_j‖ (0 when all units are equal);
        ``distinct_units``: units left after merging those within
        ``rtol * mean ‖u_j‖`` of an earlier one (1 under zero init).
    """
    return symmetry_of(net.params, net.L, rtol)


def symmetry_of(params: Mapping[str, Array], layers: int, rtol: float = 1e-6) -> Metrics:
    """:func:`symmetry` of the parameters of a network (or a stack) of ``layers`` layers."""
    out: Metrics = {}
    for l in range(1, layers):
        U = hidden_units(params, l)
        mean_norm = np.linalg.norm(U, axis=-1).mean(axis=-1)
        max_dist, duplicate = _pairs(U, rtol * mean_norm + 1e-300)
        safe_norm = np.where(mean_norm > 0, mean_norm, 1.0)
        rel_spread = np.where(mean_norm > 0, max_dist / safe_norm, 0.0)
        distinct = U.shape[-2] - duplicate.sum(axis=-1)
        s = layer_suffix(l)
        out[f"sym_max_pair_dist{s}"] = _scalar(max_dist)
        out[f"sym_rel_spread{s}"] = _scalar(rel_spread)
        out[f"distinct_units{s}"] = _scalar(distinct)
    return out


# Pairs of units are compared a block of units at a time: every pair's difference at once
# takes n² (n_prev + 1 + n_next) numbers per network (2 GiB for 8,000 units), a block at
# most this many (8 MiB in float64)
PAIR_BLOCK = 2**20


def _pairs(U: Array, tol: Array) -> tuple[Array, Array]:
    """The largest distance ‖u_j − u_k‖ between two units (per network of a stack), and
    which units are duplicates: within ``tol`` of an earlier unit (k < j)."""
    n, d = U.shape[-2], U.shape[-1]
    rows = max(1, PAIR_BLOCK // (int(np.prod(U.shape[:-2])) * n * d))
    max_dist = np.zeros(U.shape[:-2], dtype=U.dtype)
    duplicate = np.zeros(U.shape[:-1], dtype=bool)
    for start in range(0, n, rows):
        block = U[..., start : start + rows, :]
        D = np.linalg.norm(block[..., :, None, :] - U[..., None, :, :], axis=-1)  # (..., r, n)
        max_dist = np.maximum(max_dist, D.max(axis=(-2, -1)))
        earlier = np.arange(n) < np.arange(start, start + block.shape[-2])[:, None]
        close = (D <= tol[..., None, None]) & earlier
        duplicate[..., start : start + block.shape[-2]] = close.any(axis=-1)
    return max_dist, duplicate


def saturation_of(Z: Sequence[Array], A: Sequence[Array], g: Activation) -> Metrics:
    """Saturation metrics from a forward pass already computed (``Z``, ``A`` per layer)."""
    out: Metrics = {}
    L = len(Z) - 1
    for l in range(1, L):
        s = layer_suffix(l)
        out[f"sat_frac{s}"] = _scalar(g.is_saturated(Z[l], A[l]).mean(axis=(-2, -1)))
        dead = g.is_dead(Z[l], A[l])
        if dead is not None:
            out[f"dead_frac{s}"] = _scalar(dead.mean(axis=(-2, -1)))
        out[f"mean_gprime{s}"] = _scalar(g.grad(Z[l], A[l]).mean(axis=(-2, -1)))
        out[f"act_mean{s}"] = _scalar(A[l].mean(axis=(-2, -1)))
        out[f"act_std{s}"] = _scalar(A[l].std(axis=(-2, -1)))
    AL = A[L].astype(np.float64)
    out["out_sat_frac"] = _scalar(((AL == 0.0) | (AL == 1.0)).mean(axis=(-2, -1)))
    return out


def saturation(net: Network, X: Array) -> Metrics:
    """How much of the hidden layer sits in the flat tails of its activation on data X.

    Returns
    -------
    dict with
        ``sat_frac``: fraction of hidden activations in the activation's flat tails
        (|tanh| > 0.99, sigmoid outside [0.01, 0.99], the plugin's rule, or where
        |g'| is below 5% of its largest value near zero; never for relu);
        ``dead_frac``: for activations with a dead region (relu: z <= 0), the
        fraction of hidden activations in it, passing no gradient;
        ``mean_gprime``: mean of g'(Z) over hidden units and examples;
        ``act_mean``, ``act_std``: mean and standard deviation of the hidden activations
        over units and examples (per layer, as in Glorot & Bengio 2010, Figures 2-3);
        ``out_sat_frac``: fraction of outputs exactly 0.0 or 1.0 in float64
        (where the naive cross-entropy would take log 0).
    """
    Z, A = forward(net.params, net.check_inputs(X), net.g)
    return saturation_of(Z, A, net.g)


def weight_scale(params: Mapping[str, Array], layers: int) -> Metrics:
    """How much each hidden layer amplifies the second moment of its inputs.

    Returns
    -------
    dict with ``fan_in_w2`` (per hidden layer): fan-in × mean square incoming weight.
    A unit's pre-activation z = w·x has E[z²] ≈ fan-in · E[w²] · E[x²], so for
    ``randn * scale`` this is fan-in × scale²: far above 1 the units saturate (2 inputs
    at scale 1 give 2, 50 give 50); Xavier and He hold it near 1 and 2 at any fan-in.
    """
    out: Metrics = {}
    for l in range(1, layers):
        W = params[f"W{l}"]
        out[f"fan_in_w2{layer_suffix(l)}"] = _scalar(W.shape[-1] * np.mean(W**2, axis=(-2, -1)))
    return out


def grad_norms(grads: Mapping[str, Array]) -> Metrics:
    """Frobenius norm of each layer's weight gradient: ``grad_norm/W1``, ``grad_norm/W2``, ..."""
    return {
        f"grad_norm/{key[1:]}": _scalar(np.linalg.norm(value, axis=(-2, -1)))
        for key, value in grads.items()
        if key.startswith("dW")
    }


def accuracy_of(AL: Array, Y: Array) -> Any:
    """Fraction of examples classified correctly, per network of a stack."""
    return _scalar(np.mean(labels(AL) == Y, axis=(-2, -1)))


class RecordDiagnostics(Callback, StackCallback):
    """Callback: record accuracy, symmetry, saturation and gradient norms every k steps.

    With a test set, ``test_accuracy`` is recorded beside ``train_accuracy``. Given to
    :func:`~shallownet.stack.train_stack` as a stack callback, it computes them once on
    the stacked networks and records each member's values in its history.
    """

    def __init__(
        self, every: int = 10, X_test: Array | None = None, Y_test: Array | None = None
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            msg = f"every must be a positive integer, got {every!r}"
            raise ValueError(msg)
        self.every = every
        self.X_test, self.Y_test = X_test, Y_test

    def metrics(
        self,
        params: Mapping[str, Array],
        Z: Sequence[Array],
        A: Sequence[Array],
        grads: Mapping[str, Array],
        Y: Array,
        g: Activation,
    ) -> Metrics:
        """Every diagnostic of one network, or of a stack (each value then of shape (K,))."""
        L = len(params) // 2
        metrics = {"train_accuracy": accuracy_of(A[L], Y)}
        if self.X_test is not None and self.Y_test is not None:
            X_test = np.asarray(self.X_test, dtype=params["W1"].dtype)
            metrics["test_accuracy"] = accuracy_of(forward(params, X_test, g)[1][L], self.Y_test)
        return {
            **metrics,
            **symmetry_of(params, L),
            **saturation_of(Z, A, g),
            **weight_scale(params, L),
            **grad_norms(grads),
        }

    def on_step(self, state: TrainState) -> None:
        net = state.net
        state.history.log(
            state.step, **self.metrics(net.params, state.Z, state.A, state.grads, state.Y, net.g)
        )

    def on_stack_step(self, stack: StackState) -> None:
        metrics = self.metrics(stack.params, stack.Z, stack.A, stack.grads, stack.Y, stack.g)
        for k, values in stack.per_member(metrics).items():
            stack.histories[k].log(stack.step, **values)
