"""Plugins that break, for fault tests (imported through SHALLOWNET_PLUGINS)."""

from __future__ import annotations

from typing import Any

import numpy as np

import shallownet as sn


def _explode(z: Any) -> Any:
    if np.max(np.abs(z)) > 2.0:  # fine for small weights, breaks in the tails
        msg = "faulty activation: |z| grew past 2"
        raise RuntimeError(msg)
    return np.tanh(z)


sn.activations.register(
    "faulty",
    sn.Activation(forward=_explode, derivative=lambda z, a: 1 - a**2),
)
