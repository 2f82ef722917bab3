"""Stacking networks of the same shapes on a leading batch axis.

Sweeps over seeds, initializers and learning rates produce many small
networks with identical shapes. :func:`stack` puts their parameters on a
leading axis (``W1`` of shape ``(K, n_h, n_x)``) so that
:func:`shallownet.train.train_batch` trains all of them with the same
forward/backward code a single network uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .network import Array, Network, Params


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


def stack(nets: Sequence[Network]) -> Params:
    """Stack the members' parameters along a new leading axis and make each member's
    ``params`` views into the stack, so the members see every update."""
    stacked = {key: np.stack([net.params[key] for net in nets]) for key in nets[0].params}
    for k, net in enumerate(nets):
        net.params = {key: value[k] for key, value in stacked.items()}
    return stacked


def unstack(nets: Sequence[Network]) -> None:
    """Give each member its own copy of its parameters (no longer views into the stack)."""
    for net in nets:
        net.params = {key: value.copy() for key, value in net.params.items()}


def member_view(
    grads: Params, Z: list[Array], A: list[Array], k: int, stacked: bool
) -> tuple[Params, list[Array], list[Array]]:
    """Member k's gradients and activations (everything, for an unstacked network)."""
    if not stacked:
        return grads, Z, A
    return (
        {key: value[k] for key, value in grads.items()},
        [Z[0], *(z[k] for z in Z[1:])],  # Z[0] = A[0] = X is shared, not stacked
        [A[0], *(a[k] for a in A[1:])],
    )
