"""Full-batch gradient descent, the training history, and the callback hook.

:func:`train` is the course's loop, step by step: forward pass, cost, check,
backward pass, callbacks, update. The passes are :mod:`shallownet.network`'s; on
large data (a hidden layer of a million numbers or more) the same passes fused
in :mod:`shallownet.fused`, which keep their arrays from step to step and spread
the elementwise work over the cores. Many networks of the same shapes train
together as one stacked computation in :func:`shallownet.stack.train_stack`,
which gives each the numbers this loop gives it alone.

The loop knows nothing about tracking or diagnostics: those attach as
callbacks, called every ``callback.every`` steps (and at the last step) with
the :class:`TrainState` *before* that step's update, so a callback sees the
parameters that produced ``cost[step]`` and the gradients about to be applied.
A network whose cost turns non-finite stops at that step and is marked FAILED.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import fused
from .network import Array, Network, Params, backward, cost, forward

if TYPE_CHECKING:
    import pandas as pd

    from .activations import Activation


DIVERGED = "diverged at step"  # how the reason of a run that diverged begins


def diverged(reason: str) -> bool:
    """Whether a run's ``failure_reason`` says it diverged (training's outcome, not an error)."""
    return reason.startswith(DIVERGED)


def activation_fault(
    name: str, Z: Sequence[Array], A: Sequence[Array], k: int | None = None
) -> str | None:
    """Why a cost turned non-finite where the hidden activation ``name`` is to blame: it
    returned nan or inf for a finite z (its plugin's fault, not the learning rate's).
    ``k``: which network of a stack (its leading axis), None for one network."""
    for l in range(1, len(Z) - 1):  # the hidden layers
        z, a = (Z[l], A[l]) if k is None else (Z[l][k], A[l][k])
        bad = np.isfinite(z) & ~np.isfinite(a)
        if bad.any():
            where = np.unravel_index(int(np.argmax(bad)), bad.shape)
            return (
                f"activation {name!r} returned {a[where]} for z={z[where]:.6g} in hidden "
                f"layer {l}; g(z) must be finite wherever z is: fix the plugin"
            )
    return None


@dataclass
class History:
    """What training produced.

    Attributes
    ----------
    cost : ndarray, shape (steps,)
        ``cost[i]`` is the cost *before* update i. Shorter than ``iterations``
        when the run diverged.
    final_cost : float
        The cost after the last update.
    records : list of dict
        Metrics logged by callbacks, each with its ``step``.
    diverged_at : int or None
        The step at which a non-finite cost or parameter appeared.
    failure_reason : str or None
        Human-readable cause, e.g. "diverged at step 12: cost is nan".
    """

    cost: NDArray[np.floating[Any]]
    final_cost: float = float("nan")
    records: list[dict[str, float]] = field(default_factory=list)
    diverged_at: int | None = None
    failure_reason: str | None = None

    @property
    def status(self) -> str:
        """``"FINISHED"``, or ``"FAILED"`` when training diverged."""
        return "FAILED" if self.diverged_at is not None else "FINISHED"

    def diverge(
        self, step: int, cost: float, learning_rate: float, fault: str | None = None
    ) -> None:
        """Record that the cost became non-finite before update ``step``: training's
        outcome, or the ``fault`` of a plugin (:func:`activation_fault`)."""
        self.diverged_at = step
        self.cost = self.cost[:step]
        if fault is not None:  # not the learning rate's: no "diverged at step"
            self.failure_reason = f"{fault} (step {step}: cost is {cost})"
            return
        self.failure_reason = (
            f"{DIVERGED} {step}: cost is {cost}; "
            f"try a smaller learning rate (was {learning_rate:g})"
        )

    def close(self, final_cost: float, params: Params, iterations: int) -> None:
        """Record the cost after the last update; non-finite parameters fail the run."""
        self.final_cost = final_cost
        if self.diverged_at is not None:
            return
        bad = [key for key, value in params.items() if not np.isfinite(value).all()]
        if bad or not np.isfinite(final_cost):
            self.diverged_at = iterations
            what = f"parameters {', '.join(bad)} are not finite" if bad else "cost is not finite"
            self.failure_reason = f"{DIVERGED} {iterations}: {what}"

    def log(self, step: int, **metrics: float) -> None:
        """Record metrics at a step (callbacks use this)."""
        self.records.append({"step": step, **metrics})

    def to_frame(self) -> pd.DataFrame:
        """One row per step: ``cost`` at every step, callback metrics where recorded."""
        import pandas as pd

        frame = pd.DataFrame({"cost": self.cost}, index=pd.RangeIndex(len(self.cost)))
        if self.records:
            metrics = pd.DataFrame.from_records(self.records, index="step")
            metrics = metrics[~metrics.index.duplicated(keep="last")]
            frame = frame.join(metrics, how="outer")
        frame.index.name = "step"
        return frame


@dataclass
class TrainState:
    """What a callback sees: the network and data, and the current step's numbers.

    ``grads``, ``Z`` and ``A`` hold for the call: on large data (``shallownet.fused``)
    the next step writes into the same arrays, so copy what you keep."""

    net: Network
    X: Array
    Y: Array
    history: History
    learning_rate: float
    iterations: int
    step: int = 0
    cost: float = float("nan")
    grads: Params = field(default_factory=dict)
    Z: list[Array] = field(default_factory=list)
    A: list[Array] = field(default_factory=list)


class Callback:
    """Base class for training callbacks; override what you need.

    ``on_step`` runs every ``every`` steps, at step 0 and at the last step.
    """

    every: int = 1

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first step."""

    def on_step(self, state: TrainState) -> None:
        """Before the update of ``state.step``."""

    def on_train_end(self, state: TrainState) -> None:
        """After the last update (also after divergence)."""


Forward = Callable[[Mapping[str, Array], Array, "Activation"], tuple[list[Array], list[Array]]]
Backward = Callable[
    [Mapping[str, Array], Sequence[Array], Sequence[Array], Array, "Activation"], Params
]


def passes(params: Mapping[str, Array], X: Array) -> tuple[Forward, Backward]:
    """The course's forward and backward passes; for large hidden layers the same
    passes, fused (:mod:`shallownet.fused`)."""
    if fused.pays_off(params, X.shape[-1]):
        fused_passes = fused.FusedPasses()
        return fused_passes.forward, fused_passes.backward
    return forward, backward


def check_hyperparameters(learning_rate: object, iterations: object) -> None:
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, int | float)
        or not np.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        msg = f"learning_rate must be a positive number, got {learning_rate!r}"
        raise ValueError(msg)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        msg = f"iterations must be a positive integer, got {iterations!r}"
        raise ValueError(msg)


def due(callback: Callback, step: int, iterations: int) -> bool:
    """Whether a callback runs at this step: every ``every`` steps, and at the last."""
    return step % callback.every == 0 or step == iterations - 1


def train(
    net: Network,
    X: object,
    Y: object,
    learning_rate: float = 1.2,
    iterations: int = 10_000,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Train ``net`` in place by full-batch gradient descent.

    Parameters
    ----------
    net : Network
    X : array, shape (n_x, m)
    Y : array, shape (1, m), labels 0/1
    learning_rate : float
    iterations : int
        Number of updates.
    callbacks : list of Callback

    Returns
    -------
    History
        ``history.cost[i]`` is the cost before update i. A run whose cost or
        parameters become non-finite stops there, with ``history.status ==
        "FAILED"`` and the step and reason recorded.
    """
    check_hyperparameters(learning_rate, iterations)
    X, Y = net.check_data(X, Y)
    params, g = net.params, net.g
    history = History(cost=np.empty(iterations, dtype=net.dtype))
    state = TrainState(net, X, Y, history, learning_rate, iterations)
    forward_pass, backward_pass = passes(params, X)
    for callback in callbacks:
        callback.on_train_begin(state)

    # Overflow and nan are handled explicitly: a non-finite cost fails the run.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(iterations):
            Z, A = forward_pass(params, X, g)
            J = cost(Z[-1], Y)
            if not np.isfinite(J):
                fault = activation_fault(net.activation, Z, A)
                history.diverge(i, float(J), learning_rate, fault)
                break
            history.cost[i] = J
            grads = backward_pass(params, Z, A, Y, g)
            if now := [cb for cb in callbacks if due(cb, i, iterations)]:
                state.step, state.cost, state.grads, state.Z, state.A = i, float(J), grads, Z, A
                for callback in now:
                    callback.on_step(state)
            for key, value in params.items():
                value -= learning_rate * grads["d" + key]  # W := W - α dW, b := b - α db
        Z, _ = forward_pass(params, X, g)
        final_cost = float(cost(Z[-1], Y))

    history.cost = history.cost.copy()  # its own array, also when cut at a divergence
    history.close(final_cost, params, iterations)
    for callback in callbacks:
        callback.on_train_end(state)
    return history
