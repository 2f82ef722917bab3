"""Shared fixtures: the course data, and registries restored after each test."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import shallownet as sn
from shallownet import interrupts
from shallownet.config import store_configs
from shallownet.network import Array
from shallownet.plugin_modules import import_plugin_modules
from shallownet.registry import Registry

from .recorded import RecordedSweep, record_sweep


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, each file's in its order: the test processes (pytest-xdist)
    take the long ones while the short ones are left to fill the gaps at the end, instead
    of one process running the last long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def plugin_module(request: pytest.FixtureRequest) -> Callable[[str], ModuleType]:
    """Import a plugin module (as SHALLOWNET_PLUGINS would) for one test: its plugins are
    unregistered afterwards (see _restore_registries) and the module forgotten, so the
    next test that imports it registers them again."""

    def load(path: str) -> ModuleType:
        (module,) = import_plugin_modules(path)
        request.addfinalizer(lambda: sys.modules.pop(module.__name__, None))
        return module

    return load


@pytest.fixture(scope="session")
def recorded_sweep(tmp_path_factory: pytest.TempPathFactory) -> RecordedSweep:
    """A 4-run sweep recorded in process on a real SQLite store (read it, do not change it)."""
    return record_sweep(tmp_path_factory.mktemp("recorded"))


@pytest.fixture(scope="session")
def flower() -> tuple[Array, Array]:
    return sn.datasets.flower()


@pytest.fixture
def small_data() -> tuple[Array, Array]:
    """40 flower points: fast for gradient checks."""
    X, Y = sn.datasets.flower()
    return X[:, ::10].copy(), Y[:, ::10].copy()


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    """A command's main() run in process leaves the signals that stop a command ignored,
    as a command does once it exits on one (interrupts.exiting): not for the next test."""
    saved = {sig: signal.getsignal(sig) for sig in (*interrupts.HANDLED, interrupts.TIME_LIMIT)}
    yield
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def _restore_registries() -> Iterator[None]:
    """Tests may register plugins; leave the registries (and the config options that
    follow them) as they found them."""
    saved: list[tuple[Registry[Any], dict[str, Any], dict[str, str], set[str]]] = [
        (reg, dict(reg._items), dict(reg._origins), set(reg._here))
        for reg in (sn.initializers, sn.activations, sn.datasets._registry)
    ]
    yield
    changed = False
    for reg, items, origins, here in saved:
        changed |= reg._items.keys() != items.keys()
        reg._items, reg._origins, reg._here = items, origins, here
    if changed:
        store_configs()


@pytest.fixture
def register_course_init() -> str:
    """Register "course": the course's initial weights, from its own RandomState(2).

    The course draws ``W1 = randn(4, 2) * 0.01`` then ``W2 = randn(1, 4) * 0.01``
    from ``np.random.seed(2)``; the network calls the initializer once per weight
    matrix, input layer first, so a RandomState made at the first call reproduces it.
    """
    state: dict[str, np.random.RandomState] = {}

    def course(shape: tuple[int, int], rng: np.random.Generator) -> Array:
        if shape == (4, 2):
            state["rs"] = np.random.RandomState(2)
        return state["rs"].randn(*shape) * 0.01

    sn.initializers.register("course", course)
    return "course"
