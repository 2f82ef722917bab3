"""Plugins that break, for fault tests (imported through SHALLOWNET_PLUGINS)."""

from __future__ import annotations

from typing import Any

import numpy as np

import shallownet as sn

FLOWER_M = 400  # examples of the flower data: the width of its layers' arrays


def _explode(z: Any) -> Any:
    # fine for small weights, breaks in the far tails on the flower data's layers: a fault
    # the contract check cannot see (its arrays are 25, 50, 200 and 4096 wide)
    if np.max(np.abs(z)) > 5.0 and np.shape(z)[-1] == FLOWER_M:
        msg = "faulty activation: |z| grew past 5"
        raise RuntimeError(msg)
    return np.tanh(z)


sn.activations.register(
    "faulty",
    sn.Activation(forward=_explode, derivative=lambda z, a: 1 - a**2),
)


@sn.initializers.register("transposed")
def transposed(shape: tuple[int, int], rng: np.random.Generator) -> Any:
    """Breaks the contract: returns (fan_in, fan_out)."""
    return np.zeros(shape[::-1])


sn.activations.register(
    "wrong_derivative",
    sn.Activation(forward=np.tanh, derivative=lambda z, a: 1 - a),  # should be 1 - a**2
)


@sn.initializers.register("fragile")
def fragile(shape: tuple[int, int], rng: np.random.Generator) -> Any:
    """Passes the contract check, then raises while a network of 7 hidden units is built."""
    if shape == (7, 2):
        msg = "fragile initializer: cannot initialize a 7x2 layer"
        raise RuntimeError(msg)
    return rng.standard_normal(shape) * 0.01


@sn.datasets.register("nan_features")
def nan_features(n_samples: int = 20, seed: int = 1) -> Any:
    """A data set with one missing feature value: the data's fault, not the learning rate's."""
    X = np.random.default_rng(seed).standard_normal((2, n_samples))
    X[1, 3] = np.nan
    return X, (X[:1] > 0).astype(float)


@sn.initializers.register("quitter")
def quitter(shape: tuple[int, int], rng: np.random.Generator) -> Any:
    """Passes the contract check, then calls sys.exit(0) while a network of 7 hidden units
    is built: that job's fault, not the end of the command."""
    if shape == (7, 2):
        raise SystemExit(0)
    return rng.standard_normal(shape) * 0.01


def _impatient(z: Any) -> Any:
    # raises KeyboardInterrupt (no signal) in training, in the far tails on the flower data's
    # layers: the contract check's arrays are never that wide
    if np.max(np.abs(z)) > 5.0 and np.shape(z)[-1] == FLOWER_M:
        raise KeyboardInterrupt
    return np.tanh(z)


sn.activations.register(
    "impatient",
    sn.Activation(forward=_impatient, derivative=lambda z, a: 1 - a**2),
)
