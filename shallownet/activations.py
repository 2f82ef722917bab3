"""Hidden-layer activations: each one object holding g, g' and its flat region.

The derivative takes both the pre-activation ``z`` and the output ``a = g(z)``
because for the classic functions g' is cheapest from the output
(sigmoid' = a(1 - a), tanh' = 1 - a²), which the forward pass already computed.

Register your own::

    sn.activations.register(
        "softsign",
        sn.Activation(forward=lambda z: z / (1 + np.abs(z)),
                      derivative=lambda z, a: 1 / (1 + np.abs(z)) ** 2),
    )
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .registry import PluginError, Registry

Array = NDArray[np.floating[Any]]


def _never(z: Array, a: Array, **params: float) -> NDArray[np.bool_]:
    return np.zeros(np.shape(z), dtype=bool)


FLAT = 0.05  # derived rule: |g'| below 5% of the largest |g'| near zero is flat
NEAR_ZERO = np.linspace(-1.0, 1.0, 201)  # where that largest |g'| is looked for


@dataclass(frozen=True)
class Activation:
    """An activation function g with its derivative g'.

    Parameters
    ----------
    forward : callable
        ``forward(z, **params) -> a``, elementwise, same shape as ``z``.
    derivative : callable
        ``derivative(z, a, **params) -> g'(z)``, where ``a = forward(z)``.
    saturated : callable, optional
        ``saturated(z, a, **params) -> bool array``: where the unit sits in a
        flat region of g (g' near zero) so gradients through it vanish.
        Default: derived from the derivative, ``|g'(z)| < 5%`` of the largest
        ``|g'|`` g reaches on [-1, 1] (for softsign: |z| > 3.5).
    dead : callable, optional
        ``dead(z, a, **params) -> bool array``: where the unit passes no gradient
        at all, on a whole side of its input (relu's z <= 0). Reported as
        ``dead_frac``, apart from saturation. Default: none.
    params : mapping, optional
        The activation's parameters and their defaults (e.g. ``{"alpha": 0.01}``);
        :meth:`with_params` makes a copy with some of them changed.
    """

    forward: Callable[..., Array]
    derivative: Callable[..., Array]
    saturated: Callable[..., NDArray[np.bool_]] | None = None
    dead: Callable[..., NDArray[np.bool_]] | None = None
    params: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, z: Array) -> Array:
        """g(z)."""
        return self.forward(z, **self.params)

    def grad(self, z: Array, a: Array) -> Array:
        """g'(z), given ``a = g(z)``."""
        return self.derivative(z, a, **self.params)

    def is_saturated(self, z: Array, a: Array) -> NDArray[np.bool_]:
        """Boolean mask of units in the flat region of g (the plugin's rule, or derived)."""
        if self.saturated is not None:
            return self.saturated(z, a, **self.params)
        if self._steepest == 0.0:
            return _never(z, a)
        flat: NDArray[np.bool_] = np.abs(self.grad(z, a)) < FLAT * self._steepest
        return flat

    def is_dead(self, z: Array, a: Array) -> NDArray[np.bool_] | None:
        """Boolean mask of dead units, or None if g has no dead region."""
        return None if self.dead is None else self.dead(z, a, **self.params)

    @functools.cached_property
    def _steepest(self) -> float:
        """The largest |g'| near zero: the scale of the derived saturation rule."""
        z = NEAR_ZERO.copy()
        steepest = np.nanmax(np.abs(self.grad(z, self(z))))
        return float(steepest) if np.isfinite(steepest) else 0.0

    def with_params(self, **params: float) -> Activation:
        """A copy with some parameters changed; unknown names are an error."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            msg = f"unknown activation parameter(s) {', '.join(unknown)}; allowed: {allowed}"
            raise PluginError(msg)
        return dataclasses.replace(self, params={**self.params, **params})


def _validate(name: str, obj: object) -> None:
    if not isinstance(obj, Activation):
        msg = (
            f"activation {name!r} must be an sn.Activation(forward=..., derivative=...), "
            f"got {type(obj).__name__}"
        )
        raise PluginError(msg)


class ActivationRegistry(Registry[Activation]):
    """The registry of activations, with a derivative check."""

    def check(self, name: str, *, tol: float = 1e-6, **params: float) -> float:
        """Compare g' with central differences of g; raise if they disagree.

        Points are drawn away from 0, so that kinks (relu) do not count as errors, and out
        to ``|z| = 30``, the flat tails where large initializations put pre-activations
        (log-uniform in magnitude: as many per decade). The same points are checked in the
        shapes training uses: 1-D, a layer's (n_h, m) and a stack's (K, n_h, m); then on a
        layer as wide as a large data set's (4, 4096), and that one in float32 against
        float64 (``model.dtype=float32`` computes g and g' in float32). Returns the
        largest relative error found against central differences.
        """
        act = self.get(name).with_params(**params)
        rng = np.random.default_rng(0)
        z = _points(rng, 200)
        worst = 0.0
        for shape in ((200,), (4, 50), (2, 4, 25)):
            worst = max(worst, _check_derivative(name, act, z.reshape(shape), tol))
        wide = _points(rng, 4 * WIDE_LAYER).reshape(4, WIDE_LAYER)
        worst = max(worst, _check_derivative(name, act, wide, tol))
        _check_float32(name, act, wide)
        return worst


CHECKED_RANGE = (0.05, 30.0)  # |z| of the points a derivative is checked at
WIDE_LAYER = 4096  # columns (examples) of the widest layer it is checked on
FLOAT32_TOL = 1e-4  # float32 against float64, relative to max(1, |value|)


def _points(rng: np.random.Generator, n: int) -> Array:
    """``n`` points with |z| log-uniform in :data:`CHECKED_RANGE`, either sign."""
    low, high = np.log(CHECKED_RANGE)
    z: Array = np.exp(rng.uniform(low, high, size=n)) * rng.choice([-1.0, 1.0], size=n)
    return z


def _check_float32(name: str, act: Activation, z64: Array) -> None:
    """g and g' computed in float32 agree with float64 at the same points."""
    z32 = z64.astype(np.float32)
    exact = z32.astype(np.float64)
    a64 = act(exact)
    a32 = act(z32)
    for what, got, want in (
        ("g(z)", a32, a64),
        ("g'(z)", act.grad(z32, a32), act.grad(exact, a64)),
    ):
        if np.shape(got) != z32.shape:
            msg = (
                f"activation {name!r}: {what} returned shape {np.shape(got)} for float32 "
                f"input of shape {z32.shape}"
            )
            raise PluginError(msg)
        worst, err = _worst(np.asarray(got, dtype=np.float64), want)
        if not err <= FLOAT32_TOL:  # also catches nan
            msg = (
                f"activation {name!r}: {what} in float32 disagrees with float64 at "
                f"z={exact[worst]:.4g}: {float(got[worst]):.6g} against {want[worst]:.6g} "
                f"(model.dtype=float32 computes it so)"
            )
            raise PluginError(msg)


def _check_derivative(name: str, act: Activation, z: Array, tol: float) -> float:
    """The largest relative error of g' against central differences of g at ``z``."""
    h = 1e-6
    numeric = (act(z + h) - act(z - h)) / (2 * h)
    analytic = act.grad(z, act(z))
    where = "" if z.ndim == 1 else f" (on input of shape {z.shape})"
    if np.shape(analytic) != z.shape:
        msg = (
            f"activation {name!r}: derivative returned shape {np.shape(analytic)} "
            f"for input of shape {z.shape}"
        )
        raise PluginError(msg)
    worst, err = _worst(analytic, numeric)
    if not err <= tol:  # also catches nan
        msg = (
            f"activation {name!r}: derivative disagrees with central differences "
            f"at z={z[worst]:.4g}: g'(z)={analytic[worst]:.6g}, "
            f"numerical {numeric[worst]:.6g}{where}"
        )
        raise PluginError(msg)
    return err


def _worst(got: Array, want: Array) -> tuple[tuple[int, ...], float]:
    """Where ``got`` is furthest from ``want``, relative to max(1, |want|), and how far
    (nan where either is nan: the first nan is the worst)."""
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return where, float(err[where])


activations = ActivationRegistry("activation", "shallownet.activations", validate=_validate)


# -- built-ins ------------------------------------------------------------------
# Each forward is one line; its derivative sits right beside it.


def _sigmoid(z: Array) -> Array:
    # σ(z) = 1/(1 + e^-z) = (1 + tanh(z/2))/2; the tanh form never overflows
    # and reaches exactly 0.0 and 1.0 symmetrically in the far tails.
    a: Array = 0.5 * (1.0 + np.tanh(0.5 * z))
    return a


activations.register(
    "sigmoid",
    Activation(
        forward=_sigmoid,
        derivative=lambda z, a: a * (1 - a),  # σ' = σ(1 - σ)
        saturated=lambda z, a: (a < 0.01) | (a > 0.99),
    ),
)
activations.register(
    "tanh",
    Activation(
        forward=lambda z: np.tanh(z),
        derivative=lambda z, a: 1 - a**2,  # tanh' = 1 - tanh²
        saturated=lambda z, a: np.abs(a) > 0.99,
    ),
)
activations.register(
    "relu",
    Activation(
        forward=lambda z: np.maximum(z, 0),
        derivative=lambda z, a: (z > 0).astype(z.dtype),  # 0 at the kink, by convention
        saturated=_never,  # no flat tail that a smaller input would leave
        dead=lambda z, a: z <= 0,  # a "dead" unit passes no gradient
    ),
)
activations.register(
    "leaky_relu",
    Activation(
        forward=lambda z, alpha: np.where(z > 0, z, alpha * z),
        derivative=lambda z, a, alpha: np.where(z > 0, 1.0, alpha).astype(z.dtype),
        saturated=_never,  # like relu: no flat tail (its slope alpha shows in mean_gprime)
        params={"alpha": 0.01},
    ),
)
activations.register(
    "identity",
    Activation(
        forward=lambda z: z,
        derivative=lambda z, a: np.ones_like(z),
        saturated=_never,
    ),
)

sigmoid = _sigmoid  # the output layer's activation, used by the network
