"""The network: forward pass, cost, and backward pass, written as the course writes them.

Notation (columns are examples):

    X      (n_x, m)        inputs, A[0] = X
    W[l]   (n_l, n_{l-1})  weights of layer l,  b[l] (n_l, 1) biases
    Z[l] = W[l] @ A[l-1] + b[l]
    A[l] = g(Z[l])         hidden layers (the registered activation)
    A[L] = σ(Z[L])         output layer, a probability for the label 1

For the seed network (one hidden layer, L = 2) this unrolls to the course's

    Z1 = W1 @ X + b1;   A1 = g(Z1);   Z2 = W2 @ A1 + b2;   A2 = σ(Z2)
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.mT / m;              db2 = dZ2.sum(axis=-1, keepdims=True) / m
    dZ1 = W2.mT @ dZ2 * g'(Z1)
    dW1 = dZ1 @ X.mT / m;               db1 = dZ1.sum(axis=-1, keepdims=True) / m

Everything is written for an optional leading batch axis: K networks of the
same shapes (``W1`` of shape ``(K, n_h, n_x)``) go through the very same lines,
because transposes are ``.mT`` (last two axes) and sums run over ``axis=-1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .activations import Activation, activations, sigmoid
from .initializers import initializers
from .registry import PluginError

Array = NDArray[np.floating[Any]]
Params = dict[str, Array]


def forward(
    params: Mapping[str, Array], X: Array, g: Activation
) -> tuple[list[Array], list[Array]]:
    """Forward pass; returns the lists ``Z`` and ``A`` indexed by layer (``A[0] = X``).

    ``Z[0]`` is a placeholder (``X``) so that ``Z[l]`` and ``A[l]`` line up with the math.
    """
    L = len(params) // 2
    Z, A = [X], [X]
    for l in range(1, L + 1):
        Z.append(params[f"W{l}"] @ A[l - 1] + params[f"b{l}"])
        A.append(g(Z[l]) if l < L else sigmoid(Z[l]))
    return Z, A


def cost(ZL: Array, Y: Array) -> Array:
    """Binary cross-entropy, computed stably from the output pre-activation.

    -[Y log σ(Z) + (1-Y) log(1-σ(Z))] simplifies to log(1 + e^Z) - Y Z. Written
    as max(Z, 0) + log1p(e^-|Z|) - Y Z, log(1 + e^Z) never overflows, so the
    cost stays finite where the naive formula gives log(0) = -inf. Averaged
    over the m examples (last axis); a scalar for one network, (K,) for a stack.
    """
    m = ZL.shape[-1]
    softplus = np.maximum(ZL, 0) + np.log1p(np.exp(-np.abs(ZL)))  # log(1 + e^Z)
    J: Array = (softplus - Y * ZL).sum(axis=(-2, -1)) / m
    return J


def backward(
    params: Mapping[str, Array], Z: Sequence[Array], A: Sequence[Array], Y: Array, g: Activation
) -> Params:
    """Backward pass; returns ``{"dW1": ..., "db1": ..., ...}`` with the shapes of the params."""
    L = len(params) // 2
    m = Y.shape[-1]
    grads: Params = {}
    # Sigmoid output with cross-entropy: dJ/dZ[L] = A[L] - Y, the σ' factor
    # cancels against the derivative of the log.
    dZ = A[L] - Y
    for l in range(L, 0, -1):
        grads[f"dW{l}"] = dZ @ A[l - 1].mT / m
        grads[f"db{l}"] = dZ.sum(axis=-1, keepdims=True) / m
        if l > 1:
            # Chain rule back through W[l] and the activation of layer l-1.
            dZ = params[f"W{l}"].mT @ dZ * g.grad(Z[l - 1], A[l - 1])
    return grads


def labels(AL: Array) -> NDArray[np.bool_]:
    """Predicted labels: True where the output probability A[L] exceeds 0.5."""
    return AL > 0.5


def accuracy(AL: Array, Y: Array) -> float:
    """Fraction of examples whose predicted label equals Y."""
    return float(np.mean(labels(AL) == Y))


def _check_sizes(n_x: object, hidden: object) -> list[int]:
    if isinstance(n_x, bool) or not isinstance(n_x, int | np.integer) or n_x < 1:
        msg = f"n_x must be a positive integer (the number of input features), got {n_x!r}"
        raise ValueError(msg)
    if isinstance(hidden, int | str) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        msg = f"hidden must be a non-empty list of layer sizes like [4] or [10, 5], got {hidden!r}"
        raise ValueError(msg)
    for n in hidden:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            msg = f"hidden must hold positive integers (units per hidden layer), got {hidden!r}"
            raise ValueError(msg)
    return [int(n) for n in hidden]


class Network:
    """A fully connected binary classifier: hidden layers of ``activation``, sigmoid output.

    Parameters
    ----------
    n_x : int
        Number of input features (rows of X).
    hidden : list of int
        Units per hidden layer: ``[4]`` is the course's seed network, ``[10, 5]``
        the deeper network of its initialization study.
    activation : str
        Registered activation name for the hidden layers.
    init : str
        Registered initializer name, called once per weight matrix, input layer
        first, with ``shape = (fan_out, fan_in)``. Biases start at zero.
    init_kwargs, activation_kwargs : dict, optional
        Plugin parameters, e.g. ``{"scale": 0.01}`` or ``{"alpha": 0.1}``.
    seed : int
        Seeds the ``np.random.default_rng`` handed to the initializer.
    dtype : float64 (default) or float32.
    """

    def __init__(
        self,
        n_x: int,
        hidden: Sequence[int] = (4,),
        activation: str = "tanh",
        init: str = "normal",
        init_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        activation_kwargs: Mapping[str, float] | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.hidden = _check_sizes(n_x, hidden)
        self.n_x = int(n_x)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            msg = f"dtype must be float64 or float32, got {self.dtype}"
            raise ValueError(msg)
        self.activation = activation
        self.init = init
        self.init_kwargs = dict(init_kwargs or {})
        self.activation_kwargs = dict(activation_kwargs or {})
        self.seed = seed
        self.g = activations.get(activation).with_params(**self.activation_kwargs)
        rng = np.random.default_rng(seed)
        n = [self.n_x, *self.hidden, 1]
        self.params: Params = {}
        for l in range(1, len(n)):
            W = initializers.call(init, (n[l], n[l - 1]), rng, self.init_kwargs)
            self.params[f"W{l}"] = W.astype(self.dtype)
            self.params[f"b{l}"] = np.zeros((n[l], 1), dtype=self.dtype)

    @property
    def L(self) -> int:
        """Number of layers with weights (hidden layers + output)."""
        return len(self.params) // 2

    @property
    def n_h(self) -> int:
        """Units in the first hidden layer."""
        return self.hidden[0]

    def check_inputs(self, X: object) -> Array:
        """X cast to the network's dtype; its shape must be (n_x, m)."""
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[0] != self.n_x or X.shape[1] == 0:
            msg = f"X must have shape (n_x={self.n_x}, m) with m >= 1, got {X.shape}"
            raise ValueError(msg)
        return X

    def check_data(self, X: object, Y: object) -> tuple[Array, Array]:
        """X (n_x, m) and Y (1, m) of 0/1 labels, cast to the network's dtype."""
        X = self.check_inputs(X)
        Y = np.asarray(Y, dtype=self.dtype)
        if Y.shape != (1, X.shape[1]):
            msg = f"Y must have shape (1, m={X.shape[1]}) to match X, got {Y.shape}"
            raise ValueError(msg)
        if not np.isin(Y, (0, 1)).all():
            msg = f"Y must hold labels 0 and 1 only, got values {np.unique(Y)[:5]}"
            raise ValueError(msg)
        return X, Y

    def forward(self, X: Array) -> tuple[list[Array], list[Array]]:
        """Z and A of every layer for inputs X."""
        return forward(self.params, X, self.g)

    def cost(self, X: Array, Y: Array) -> float:
        """Cross-entropy cost on (X, Y)."""
        X, Y = self.check_data(X, Y)
        Z, _ = self.forward(X)
        return float(cost(Z[-1], Y))

    def gradients(self, X: Array, Y: Array) -> Params:
        """Gradients of the cost with respect to every parameter (``dW1``, ``db1``, ...)."""
        X, Y = self.check_data(X, Y)
        Z, A = self.forward(X)
        return backward(self.params, Z, A, Y, self.g)

    def predict_proba(self, X: Array) -> Array:
        """A[L], the probability of label 1, shape (1, m)."""
        X = self.check_inputs(X)
        return self.forward(X)[1][-1]

    def predict(self, X: Array) -> Array:
        """Labels 0/1, shape (1, m): 1 where A[L] > 0.5."""
        return labels(self.predict_proba(X)).astype(self.dtype)

    def accuracy(self, X: Array, Y: Array) -> float:
        """Fraction of examples classified correctly."""
        X, Y = self.check_data(X, Y)
        return accuracy(self.predict_proba(X), Y)

    def copy(self) -> Network:
        """An independent copy (parameters copied)."""
        clone = object.__new__(Network)
        clone.__dict__.update(self.__dict__)
        clone.params = {k: v.copy() for k, v in self.params.items()}
        return clone

    def __repr__(self) -> str:
        init = self.init + (f"{self.init_kwargs}" if self.init_kwargs else "")
        return (
            f"Network(n_x={self.n_x}, hidden={self.hidden}, activation={self.activation!r}, "
            f"init={init!r}, seed={self.seed}, dtype={self.dtype})"
        )


__all__ = ["Network", "PluginError", "backward", "cost", "forward"]
