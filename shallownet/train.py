"""Full-batch gradient descent, the training history, and the callback hook.

The loop knows nothing about tracking or diagnostics: those attach as
callbacks, called every ``callback.every`` steps (and at the last step) with
the :class:`TrainState` *before* that step's update, so a callback sees the
parameters that produced ``cost[step]`` and the gradients about to be applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .network import Array, Network, Params, backward, cost, forward

if TYPE_CHECKING:
    import pandas as pd


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

    def diverge(self, step: int, cost: float, learning_rate: float) -> None:
        """Record that the cost became non-finite before update ``step``."""
        self.diverged_at = step
        self.cost = self.cost[:step]
        self.failure_reason = (
            f"diverged at step {step}: cost is {cost}; "
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
            self.failure_reason = f"diverged at step {iterations}: {what}"

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
    """What a callback sees: the network and data, and the current step's numbers."""

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


def _check_hyperparameters(learning_rate: object, iterations: object) -> None:
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
    _check_hyperparameters(learning_rate, iterations)
    X, Y = net.check_data(X, Y)
    history = History(cost=np.empty(iterations, dtype=net.dtype))
    state = TrainState(net, X, Y, history, learning_rate, iterations)
    last = iterations - 1
    for cb in callbacks:
        cb.on_train_begin(state)

    params, g = net.params, net.g
    # Overflow and nan are handled explicitly below: they mark the run FAILED.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(iterations):
            Z, A = forward(params, X, g)
            J = cost(Z[-1], Y)
            if not np.isfinite(J):
                history.diverge(i, float(J), learning_rate)
                break
            history.cost[i] = J
            grads = backward(params, Z, A, Y, g)
            for cb in callbacks:
                if i % cb.every == 0 or i == last:
                    state.step, state.cost, state.grads = i, float(J), grads
                    state.Z, state.A = Z, A
                    cb.on_step(state)
            for key, value in params.items():
                value -= learning_rate * grads["d" + key]
        Z, _ = forward(params, X, g)
        history.close(float(cost(Z[-1], Y)), params, iterations)
    for cb in callbacks:
        cb.on_train_end(state)
    return history
