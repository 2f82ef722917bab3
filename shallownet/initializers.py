"""Weight initializers: ``fn(shape, rng, **params) -> W``.

The network calls the initializer once per weight matrix, input layer first,
with ``shape = (fan_out, fan_in)`` (W[l] maps n_{l-1} inputs to n_l units) and
its own ``np.random.Generator``. Biases always start at zero: the asymmetry
that lets hidden units learn different features must come from W.

Register your own::

    @sn.initializers.register("orthogonal")
    def orthogonal(shape, rng, gain=1.0):
        ...
        return W  # ndarray of exactly `shape`
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .registry import PluginError, Registry, keyword_parameters

Array = NDArray[np.floating[Any]]
Initializer = Callable[..., Array]


def _validate(name: str, fn: object) -> None:
    if not callable(fn):
        msg = f"initializer {name!r} must be callable as fn(shape, rng, **params)"
        raise PluginError(msg)


class InitializerRegistry(Registry[Initializer]):
    """The registry of initializers, with a contract check."""

    def parameters(self, name: str) -> dict[str, Any]:
        """The initializer's parameters after ``(shape, rng)``, with their defaults."""
        return keyword_parameters(self.get(name), skip=2)

    def call(
        self,
        name: str,
        shape: tuple[int, int],
        rng: np.random.Generator,
        params: Mapping[str, Any] | None = None,
    ) -> Array:
        """Draw one weight matrix, enforcing the plugin contract.

        Unknown parameters, a wrong shape or non-finite values raise
        :class:`PluginError` naming the initializer.
        """
        fn = self.get(name)
        params = dict(params or {})
        accepted = self.parameters(name)
        has_var_kw = any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()
        )
        unknown = sorted(set(params) - set(accepted))
        if unknown and not has_var_kw:
            allowed = ", ".join(accepted) or "none"
            msg = f"initializer {name!r} has no parameter {', '.join(unknown)}; allowed: {allowed}"
            raise PluginError(msg)
        W = np.asarray(fn(shape, rng, **params))
        if W.shape != tuple(shape):
            msg = (
                f"initializer {name!r} returned shape {W.shape}, "
                f"expected {tuple(shape)} (fan_out, fan_in)"
            )
            raise PluginError(msg)
        if not (np.issubdtype(W.dtype, np.floating) or np.issubdtype(W.dtype, np.integer)):
            msg = (  # complex weights would be made real, silently; objects, strings fail later
                f"initializer {name!r} returned {W.dtype} values for shape {tuple(shape)}; "
                "weights must be real numbers (float or int)"
            )
            raise PluginError(msg)
        if not np.isfinite(W).all():
            msg = f"initializer {name!r} returned non-finite values for shape {tuple(shape)}"
            raise PluginError(msg)
        return W

    def check(self, name: str, **params: Any) -> None:
        """Call the initializer on a few shapes; raise if it breaks the contract."""
        rng = np.random.default_rng(0)
        for shape in [(4, 2), (1, 4), (10, 5), (3, 3)]:
            self.call(name, shape, rng, params)


initializers = InitializerRegistry("initializer", "shallownet.initializers", validate=_validate)


def _require_nonnegative(name: str, param: str, value: float) -> None:
    if not value >= 0:
        msg = f"initializer {name!r}: {param} must be >= 0, got {value!r}"
        raise PluginError(msg)


@initializers.register("zeros")
def zeros(shape: tuple[int, int], rng: np.random.Generator) -> Array:
    """All zeros: every hidden unit computes the same function (the symmetry problem)."""
    return np.zeros(shape)


@initializers.register("constant")
def constant(shape: tuple[int, int], rng: np.random.Generator, value: float = 0.5) -> Array:
    """Every weight the same nonzero value: the hidden units learn, but in lockstep, so the
    network behaves like a network of one hidden unit (symmetry without zeros)."""
    return np.full(shape, float(value))


@initializers.register("normal")
def normal(shape: tuple[int, int], rng: np.random.Generator, scale: float = 0.01) -> Array:
    """W ~ N(0, 1) * scale: the course's ``randn * 0.01`` (small) or ``randn * 1`` (large)."""
    _require_nonnegative("normal", "scale", scale)
    return rng.standard_normal(shape) * scale


@initializers.register("uniform")
def uniform(shape: tuple[int, int], rng: np.random.Generator, scale: float = 0.05) -> Array:
    """W ~ U(-scale, scale)."""
    _require_nonnegative("uniform", "scale", scale)
    return rng.uniform(-scale, scale, size=shape)


@initializers.register("standard")
def standard(shape: tuple[int, int], rng: np.random.Generator) -> Array:
    """The heuristic standard before 2010 (Glorot & Bengio's eq. 1): W ~ U(±1/sqrt(fan_in)),
    variance 1/(3·fan_in): with tanh, activations and gradients shrink layer by layer."""
    limit = 1.0 / np.sqrt(shape[1])
    return rng.uniform(-limit, limit, size=shape)


@initializers.register("xavier")
def xavier(shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0) -> Array:
    """Glorot & Bengio 2010, normalized init: W ~ U(±gain·sqrt(6 / (fan_in + fan_out)))."""
    _require_nonnegative("xavier", "gain", gain)
    fan_out, fan_in = shape
    limit = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


@initializers.register("he")
def he(shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0) -> Array:
    """He et al. 2015, for relu: W ~ N(0, 2 / fan_in), i.e. ``randn * sqrt(2 / fan_in)``."""
    _require_nonnegative("he", "gain", gain)
    fan_in = shape[1]
    W: Array = rng.standard_normal(shape) * gain * np.sqrt(2.0 / fan_in)
    return W
