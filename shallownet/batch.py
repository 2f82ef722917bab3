"""Training K networks of the same shapes at once, on a leading batch axis.

Sweeps over seeds, initializers and learning rates produce many small
networks with identical shapes. Stacked, ``W1`` becomes ``(K, n_h, n_x)`` and
the very same forward/backward code (written with ``.mT`` and ``axis=-1``)
trains all K in one pass, paying numpy's per-call overhead once instead of K
times.

Each member keeps its own :class:`History`, callbacks and fate: a member whose
cost turns non-finite is frozen at that step and marked FAILED, exactly as
:func:`train` would stop it; the others carry on. After training, each
member's ``net.params`` hold its own final parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce

import numpy as np

from .network import Array, Network, Params, backward, cost, forward
from .train import Callback, History, TrainState, _check_hyperparameters


def _check_compatible(nets: Sequence[Network]) -> None:
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


def stack(nets: Sequence[Network]) -> Params:
    """Stack the members' parameters along a new leading axis and make each member's
    ``params`` views into the stack, so the members see every update."""
    stacked = {key: np.stack([net.params[key] for net in nets]) for key in nets[0].params}
    for k, net in enumerate(nets):
        net.params = {key: value[k] for key, value in stacked.items()}
    return stacked


def _member_state(
    state: TrainState, k: int, J: Array, grads: Params, Z: list[Array], A: list[Array]
) -> None:
    state.cost = float(J[k])
    state.grads = {key: value[k] for key, value in grads.items()}
    state.Z = [Z[0], *(z[k] for z in Z[1:])]  # Z[0] = A[0] = X is shared, not stacked
    state.A = [A[0], *(a[k] for a in A[1:])]


def train_batch(
    nets: Sequence[Network],
    X: object,
    Y: object,
    learning_rates: Sequence[float],
    iterations: int,
    callbacks: Sequence[Sequence[Callback]] | None = None,
) -> list[History]:
    """Train several networks together; the same numbers as :func:`train` on each.

    Parameters
    ----------
    nets : list of Network
        Same ``n_x``, ``hidden``, activation (and its parameters) and dtype;
        initializers and seeds may differ.
    learning_rates : list of float, one per network
    callbacks : list of lists of Callback, one list per network
    """
    K = len(nets)
    if K == 0:
        return []
    _check_compatible(nets)
    if len(learning_rates) != K:
        msg = f"learning_rates needs one value per network ({K}), got {len(learning_rates)}"
        raise ValueError(msg)
    for lr in learning_rates:
        _check_hyperparameters(lr, iterations)
    member_callbacks = (
        [list(cbs) for cbs in callbacks] if callbacks is not None else [[] for _ in nets]
    )
    X, Y = nets[0].check_data(X, Y)
    g, dtype = nets[0].g, nets[0].dtype

    params = stack(nets)
    rates = np.array(learning_rates, dtype=dtype).reshape(K, 1, 1)
    costs = np.empty((K, iterations), dtype=dtype)
    histories = [History(cost=costs[k]) for k in range(K)]
    states = [
        TrainState(net, X, Y, histories[k], learning_rates[k], iterations)
        for k, net in enumerate(nets)
    ]
    for k, cbs in enumerate(member_callbacks):
        for cb in cbs:
            cb.on_train_begin(states[k])
    everies = [cb.every for cbs in member_callbacks for cb in cbs]
    # callbacks can only be due on multiples of the gcd of their periods (and the last step)
    period = reduce(math.gcd, everies) if everies else iterations
    last = iterations - 1
    alive = np.ones(K, dtype=bool)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(iterations):
            Z, A = forward(params, X, g)
            J = cost(Z[-1], Y)  # shape (K,)
            finite = np.isfinite(J)
            if not finite[alive].all():
                for k in np.flatnonzero(alive & ~finite).tolist():
                    histories[k].diverge(i, float(J[k]), learning_rates[k])
                    alive[k] = False
                if not alive.any():
                    break
            costs[:, i] = J
            grads = backward(params, Z, A, Y, g)
            if i % period == 0 or i == last:
                for k in np.flatnonzero(alive).tolist():
                    due = [cb for cb in member_callbacks[k] if i % cb.every == 0 or i == last]
                    if due:
                        states[k].step = i
                        _member_state(states[k], k, J, grads, Z, A)
                        for cb in due:
                            cb.on_step(states[k])
            if alive.all():
                for key, value in params.items():
                    value -= rates * grads["d" + key]
            else:  # frozen members keep the parameters they diverged with
                for key, value in params.items():
                    value[alive] -= rates[alive] * grads["d" + key][alive]

        Z, _ = forward(params, X, g)
        final = cost(Z[-1], Y)
    final_costs = np.asarray(final)
    for k, net in enumerate(nets):
        net.params = {key: value.copy() for key, value in net.params.items()}
        histories[k].cost = histories[k].cost.copy()  # a row of `costs`, cut at divergence
        histories[k].close(float(final_costs[k]), net.params, iterations)
        for cb in member_callbacks[k]:
            cb.on_train_end(states[k])
    return histories
