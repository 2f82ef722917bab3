"""Networks of the same shapes trained together, stacked on a leading axis.

Sweeps over seeds, initializers and learning rates produce many small networks
with identical shapes. Stacked, ``W1`` becomes ``(K, n_h, n_x)`` and the very
same forward/backward code (written with ``.mT`` and ``axis=-1``) trains all K
in one pass, paying numpy's per-call overhead once instead of K times.
:func:`train_stack` gives each network the numbers :func:`shallownet.train.train`
gives it alone; a stack of one is trained by ``train`` itself.

Each network keeps its own :class:`~shallownet.train.History`, callbacks and
fate: one whose cost turns non-finite is frozen at that step and marked FAILED;
the others carry on. A :class:`StackCallback` sees the whole stack at once
(:class:`StackState`): diagnostics computed on the stacked arrays cost one numpy
pass for K networks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from .network import Array, Network, Params, cost
from .train import (
    Callback,
    History,
    TrainState,
    activation_fault,
    check_hyperparameters,
    due,
    passes,
    train,
)

if TYPE_CHECKING:
    from .activations import Activation


@dataclass
class StackState:
    """What a stack callback sees: every network of a stack at one step, on a leading
    axis when there are several (``params["W1"]`` of shape (K, n_h, n_x); ``Z`` and
    ``A`` likewise, except ``Z[0] = A[0] = X``), and each member's history."""

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


class StackCallback:
    """Base class for callbacks that see every network of a stack at once;
    ``on_stack_step`` runs every ``every`` steps, at step 0 and at the last step, before
    the members' own callbacks of that step."""

    every: int = 1

    def on_stack_step(self, stack: StackState) -> None:
        """Before the update of ``stack.step``."""


def check_compatible(nets: Sequence[Network]) -> None:
    """Networks trained together share ``n_x``, ``hidden``, activation and dtype."""
    first = nets[0]
    for net in nets[1:]:
        same = (
            net.n_x == first.n_x
            and net.hidden == first.hidden
            and net.activation == first.activation
            and net.activation_kwargs == first.activation_kwargs
            and net.dtype == first.dtype
        )
        if not same:
            msg = (
                f"cannot train {net!r} together with {first!r}: "
                f"shapes, activation and dtype must match"
            )
            raise ValueError(msg)


@contextmanager
def stacked(nets: Sequence[Network]) -> Iterator[Params]:
    """The members' parameters stacked on a new leading axis, while the block runs.

    Meanwhile each member's ``net.params`` are views into the stack, so its callbacks
    see every update; afterwards each member has its own copy again."""
    stack = {key: np.stack([net.params[key] for net in nets]) for key in nets[0].params}
    for k, net in enumerate(nets):
        net.params = {key: value[k] for key, value in stack.items()}
    try:
        yield stack
    finally:
        for net in nets:
            net.params = {key: value.copy() for key, value in net.params.items()}


def member_view(
    grads: Params, Z: list[Array], A: list[Array], k: int
) -> tuple[Params, list[Array], list[Array]]:
    """Member k's gradients, pre-activations and activations, out of the stack's."""
    return (
        {key: value[k] for key, value in grads.items()},
        [Z[0], *(z[k] for z in Z[1:])],  # Z[0] = A[0] = X is shared, not stacked
        [A[0], *(a[k] for a in A[1:])],
    )


class _OneNetwork(Callback):
    """A stack callback given a stack of one: :func:`train` calls it as a member's."""

    def __init__(self, callback: StackCallback) -> None:
        self.callback, self.every = callback, callback.every

    def on_step(self, state: TrainState) -> None:
        net = state.net
        self.callback.on_stack_step(
            StackState(
                state.step,
                net.params,
                state.Z,
                state.A,
                state.grads,
                state.Y,
                net.g,
                [state.history],
                [0],
            )
        )


def train_stack(
    nets: Sequence[Network],
    X: object,
    Y: object,
    learning_rates: Sequence[float],
    iterations: int,
    callbacks: Sequence[Sequence[Callback]] | None = None,
    stack_callbacks: Sequence[StackCallback] = (),
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
    stack_callbacks : list of StackCallback, called with all networks at once

    Returns
    -------
    list of History, one per network
    """
    member_callbacks = _check(nets, learning_rates, iterations, callbacks)
    if not nets:
        return []
    if len(nets) == 1:  # a stack of one is the course's loop
        net, rate, callbacks_of_one = nets[0], learning_rates[0], member_callbacks[0]
        return [_train_one(net, X, Y, rate, iterations, callbacks_of_one, stack_callbacks)]
    X, Y = nets[0].check_data(X, Y)
    with stacked(nets) as params:
        run = _Stack(nets, X, Y, params, learning_rates, iterations, member_callbacks)
        # Overflow and nan are handled explicitly: they freeze a network, FAILED.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i in range(iterations):
                Z, A = run.forward(params, X, run.g)
                J = cost(Z[-1], Y)  # shape (K,)
                if not run.freeze_diverged(i, J, Z, A):
                    break  # every network diverged
                run.costs[:, i] = J
                grads = run.backward(params, Z, A, Y, run.g)
                run.call_back(i, J, Z, A, grads, stack_callbacks)
                run.update(grads)
            Z, _ = run.forward(params, X, run.g)
            final = cost(Z[-1], Y)
    return run.end(final)


def _check(
    nets: Sequence[Network],
    learning_rates: Sequence[float],
    iterations: int,
    callbacks: Sequence[Sequence[Callback]] | None,
) -> list[list[Callback]]:
    """Each network's callbacks, once the stack's arguments are known to fit together."""
    K = len(nets)
    if K:
        check_compatible(nets)
    if len(learning_rates) != K:
        msg = f"learning_rates needs one value per network ({K}), got {len(learning_rates)}"
        raise ValueError(msg)
    for lr in learning_rates:
        check_hyperparameters(lr, iterations)
    member_callbacks = [list(cbs) for cbs in callbacks] if callbacks is not None else [[]] * K
    if len(member_callbacks) != K:
        msg = f"callbacks needs one list per network ({K}), got {len(member_callbacks)}"
        raise ValueError(msg)
    return member_callbacks


def _train_one(
    net: Network,
    X: object,
    Y: object,
    learning_rate: float,
    iterations: int,
    callbacks: list[Callback],
    stack_callbacks: Sequence[StackCallback],
) -> History:
    """A stack of one is the course's loop; its stack callbacks run first at each step."""
    adapted: list[Callback] = [_OneNetwork(cb) for cb in stack_callbacks]
    return train(net, X, Y, learning_rate, iterations, [*adapted, *callbacks])


class _Stack:
    """The state of K networks training as one stacked computation, and its steps."""

    def __init__(
        self,
        nets: Sequence[Network],
        X: Array,
        Y: Array,
        params: Params,
        learning_rates: Sequence[float],
        iterations: int,
        callbacks: list[list[Callback]],
    ) -> None:
        K, dtype = len(nets), nets[0].dtype
        self.nets, self.params, self.g = nets, params, nets[0].g
        self.learning_rates, self.iterations = learning_rates, iterations
        self.rates = np.array(learning_rates, dtype=dtype).reshape(K, 1, 1)
        self.costs = np.empty((K, iterations), dtype=dtype)  # costs[k, i]: network k, step i
        self.histories = [History(cost=self.costs[k]) for k in range(K)]
        self.states = [
            TrainState(net, X, Y, self.histories[k], learning_rates[k], iterations)
            for k, net in enumerate(nets)
        ]
        self.callbacks = callbacks
        self.alive = np.ones(K, dtype=bool)
        self.forward, self.backward = passes(params, X)
        everies = [cb.every for cbs in callbacks for cb in cbs]
        self.period = reduce(math.gcd, everies) if everies else iterations
        for state, cbs in zip(self.states, callbacks, strict=True):
            for cb in cbs:
                cb.on_train_begin(state)

    def freeze_diverged(self, step: int, J: Array, Z: list[Array], A: list[Array]) -> bool:
        """Freeze the networks whose cost turned non-finite at this step (FAILED, with the
        step and reason: training's, or the activation's fault); whether any network is
        still training."""
        finite = np.isfinite(J)
        if finite.all():
            return True
        for k in np.flatnonzero(self.alive & ~finite).tolist():
            fault = activation_fault(self.nets[k].activation, Z, A, k)
            self.histories[k].diverge(step, float(J[k]), self.learning_rates[k], fault)
            self.alive[k] = False
        return bool(self.alive.any())

    def call_back(
        self,
        step: int,
        J: Array,
        Z: list[Array],
        A: list[Array],
        grads: Params,
        stack_callbacks: Sequence[StackCallback],
    ) -> None:
        """The stack callbacks due at this step, then each training member's own."""
        last = step == self.iterations - 1
        members = np.flatnonzero(self.alive).tolist()
        if now := [cb for cb in stack_callbacks if step % cb.every == 0 or last]:
            state = StackState(
                step, self.params, Z, A, grads, self.states[0].Y, self.g, self.histories, members
            )
            for stack_callback in now:
                stack_callback.on_stack_step(state)
        if step % self.period and not last:
            return  # no member callback is due (each runs on multiples of the gcd)
        for k in members:
            if now_k := [cb for cb in self.callbacks[k] if due(cb, step, self.iterations)]:
                member = self.states[k]
                member.step, member.cost = step, float(J[k])
                member.grads, member.Z, member.A = member_view(grads, Z, A, k)
                for callback in now_k:
                    callback.on_step(member)

    def update(self, grads: Params) -> None:
        """One step of gradient descent for every network still training; a frozen one
        keeps the parameters it diverged with."""
        if self.alive.all():
            for key, value in self.params.items():
                value -= self.rates * grads["d" + key]
        else:
            alive = self.alive
            for key, value in self.params.items():
                value[alive] -= self.rates[alive] * grads["d" + key][alive]

    def end(self, final: Array) -> list[History]:
        """Each network's history, closed with its cost after the last update."""
        for k, net in enumerate(self.nets):
            history = self.histories[k]
            history.cost = history.cost.copy()  # a row of `costs`, cut at divergence
            history.close(float(final[k]), net.params, self.iterations)
            for cb in self.callbacks[k]:
                cb.on_train_end(self.states[k])
        return self.histories
