"""Full-batch gradient descent, the training history, and the callback hook.

One loop trains one network or K networks of the same shapes together
(:func:`train_batch`; :func:`train` is a batch of one). Stacked, ``W1``
becomes ``(K, n_h, n_x)`` and the very same forward/backward code (written
with ``.mT`` and ``axis=-1``) trains all K in one pass, paying numpy's
per-call overhead once instead of K times. A batch of one is not stacked.

The loop knows nothing about tracking or diagnostics: those attach as
callbacks, called every ``callback.every`` steps (and at the last step) with
the :class:`TrainState` *before* that step's update, so a callback sees the
parameters that produced ``cost[step]`` and the gradients about to be applied.
A :class:`BatchCallback` sees the whole stack at once (:class:`BatchState`):
diagnostics computed on the stacked arrays cost one numpy pass for K networks.
Each network keeps its own :class:`History`, callbacks and fate: one whose
cost turns non-finite is frozen at that step and marked FAILED; the others
carry on.

The passes are :mod:`shallownet.network`'s; on large data (a hidden layer of a
million numbers or more) the same passes fused in :mod:`shallownet.fused`, which
keep their arrays from step to step and spread the elementwise work over the cores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import fused
from .batch import check_compatible, member_view, stack, unstack
from .network import Array, Network, Params, backward, cost, forward

if TYPE_CHECKING:
    import pandas as pd

    from .activations import Activation


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


@dataclass
class BatchState:
    """What a batch callback sees: every network of a batch at one step, stacked on a
    leading axis when there are several (``params["W1"]`` of shape (K, n_h, n_x); ``Z``
    and ``A`` likewise, except ``Z[0] = A[0] = X``), and each member's history."""

    step: int
    params: Params
    Z: list[Array]
    A: list[Array]
    grads: Params
    Y: Array
    g: Activation
    histories: Sequence[History]
    members: list[int]  # the networks still training (not frozen at a divergence)

    def per_member(self, metrics: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        """Each training member's values of metrics computed on the stack (shape (K,)
        each, or scalars for one network), as plain Python numbers."""
        K = len(self.histories)
        columns = {key: np.reshape(value, K).tolist() for key, value in metrics.items()}
        return {k: {key: column[k] for key, column in columns.items()} for k in self.members}


class BatchCallback:
    """Base class for callbacks that see every network of a batch at once; ``on_batch_step``
    runs every ``every`` steps, at step 0 and at the last step, before the members' own
    callbacks of that step."""

    every: int = 1

    def on_batch_step(self, batch: BatchState) -> None:
        """Before the update of ``batch.step``."""


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
    return train_batch([net], X, Y, [learning_rate], iterations, [callbacks])[0]


def train_batch(
    nets: Sequence[Network],
    X: object,
    Y: object,
    learning_rates: Sequence[float],
    iterations: int,
    callbacks: Sequence[Sequence[Callback]] | None = None,
    batch_callbacks: Sequence[BatchCallback] = (),
) -> list[History]:
    """Train several networks together; each gets the numbers :func:`train` gives it alone.

    Parameters
    ----------
    nets : list of Network
        Same ``n_x``, ``hidden``, activation (and its parameters) and dtype;
        initializers and seeds may differ.
    X : array, shape (n_x, m)
    Y : array, shape (1, m), labels 0/1
    learning_rates : list of float, one per network
    iterations : int
    callbacks : list of lists of Callback, one list per network
    batch_callbacks : list of BatchCallback, called with all networks at once

    Returns
    -------
    list of History, one per network
    """
    K = len(nets)
    if K == 0:
        return []
    check_compatible(nets)
    if len(learning_rates) != K:
        msg = f"learning_rates needs one value per network ({K}), got {len(learning_rates)}"
        raise ValueError(msg)
    for lr in learning_rates:
        _check_hyperparameters(lr, iterations)
    member_callbacks = [list(cbs) for cbs in callbacks] if callbacks is not None else [[]] * K
    if len(member_callbacks) != K:
        msg = f"callbacks needs one list per network ({K}), got {len(member_callbacks)}"
        raise ValueError(msg)
    X, Y = nets[0].check_data(X, Y)
    g, dtype = nets[0].g, nets[0].dtype

    # One network trains on its own parameters; K > 1 train on a stack of them.
    stacked = K > 1
    params = stack(nets) if stacked else nets[0].params
    rates: Any = (
        np.array(learning_rates, dtype=dtype).reshape(K, 1, 1) if stacked else learning_rates[0]
    )
    costs = np.empty((K, iterations), dtype=dtype)
    cost_at_step = costs.T if stacked else costs[0]  # cost_at_step[i] = J, for K or for one
    histories = [History(cost=costs[k]) for k in range(K)]
    states = [
        TrainState(net, X, Y, histories[k], learning_rates[k], iterations)
        for k, net in enumerate(nets)
    ]
    for state, cbs in zip(states, member_callbacks, strict=True):
        for cb in cbs:
            cb.on_train_begin(state)
    everies = [cb.every for cbs in member_callbacks for cb in cbs]
    everies += [cb.every for cb in batch_callbacks]
    # callbacks can only be due on multiples of the gcd of their periods (and the last step)
    period = reduce(math.gcd, everies) if everies else iterations
    last = iterations - 1
    alive = np.ones(K, dtype=bool)
    # the course's passes; for large hidden layers the same passes, fused (shallownet.fused)
    passes = fused.FusedPasses() if fused.pays_off(params, X.shape[-1]) else None
    forward_pass = passes.forward if passes else forward
    backward_pass = passes.backward if passes else backward
    all_alive = True

    # Overflow and nan are handled explicitly below: they mark a network FAILED.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(iterations):
            Z, A = forward_pass(params, X, g)
            J = cost(Z[-1], Y)  # a scalar for one network, shape (K,) for a stack
            finite = np.isfinite(J)
            if not (finite.all() if stacked else finite):
                for k in np.flatnonzero(alive & ~finite.reshape(K)).tolist():
                    histories[k].diverge(i, float(np.reshape(J, K)[k]), learning_rates[k])
                    alive[k] = False
                all_alive = False
                if not alive.any():
                    break
            cost_at_step[i] = J
            grads = backward_pass(params, Z, A, Y, g)
            if i % period == 0 or i == last:
                members = list(range(K)) if all_alive else np.flatnonzero(alive).tolist()
                due_batch = [cb for cb in batch_callbacks if i % cb.every == 0 or i == last]
                if due_batch:
                    batch = BatchState(i, params, Z, A, grads, Y, g, histories, members)
                    for batch_cb in due_batch:
                        batch_cb.on_batch_step(batch)
                for k in members:
                    due = [cb for cb in member_callbacks[k] if i % cb.every == 0 or i == last]
                    if due:
                        state = states[k]
                        state.step = i
                        state.cost = float(J[k] if stacked else J)
                        state.grads, state.Z, state.A = member_view(grads, Z, A, k, stacked)
                        for cb in due:
                            cb.on_step(state)
            if all_alive:
                for key, value in params.items():
                    value -= rates * grads["d" + key]
            else:  # frozen members keep the parameters they diverged with
                for key, value in params.items():
                    value[alive] -= rates[alive] * grads["d" + key][alive]

        Z, _ = forward_pass(params, X, g)
        final = np.reshape(cost(Z[-1], Y), K)
    if stacked:
        unstack(nets)
    for k, net in enumerate(nets):
        histories[k].cost = histories[k].cost.copy()  # a row of `costs`, cut at divergence
        histories[k].close(float(final[k]), net.params, iterations)
        for cb in member_callbacks[k]:
            cb.on_train_end(states[k])
    return histories
