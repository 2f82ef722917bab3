"""Plugins registered in this process, carried to the processes that train a sweep.

A worker of the batched launcher (or a submitit job) that starts afresh registers
shallownet's built-ins, the entry points and the modules named in ``SHALLOWNET_PLUGINS``
by itself. A plugin registered by a call anywhere else (a notebook cell, ``__main__``,
a module the caller imported, a test module) goes with each batch (:func:`pack`):
cloudpickled by value, code and module globals, since the module that defines it may be
one a worker cannot import (``__main__``, a notebook cell, a folder not on its path); the
worker registers it before the batch starts (:func:`unpack`).

Hydra's own launchers (joblib, ...) carry nothing of the kind: a sweep that uses such a
plugin under one of them is refused before anything is written (:func:`refuse_uncarried`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import cloudpickle

from .errors import ConfigError
from .plugin_modules import ENV_VAR
from .registry import defining_module
from .settings import PLUGIN_GROUPS, Settings

# group -> plugin name -> plugin: what a fresh process would not have
Carried = dict[str, dict[str, Any]]


def registered_here() -> Carried:
    """Every plugin registered in this process that a fresh process would not register."""
    return {
        group: found
        for group, registry in PLUGIN_GROUPS.items()
        if (found := registry.registered_here())
    }


def pack() -> bytes:
    """The plugins registered here that a fresh process would not have, pickled by value
    (with the functions and globals of the modules that define them)."""
    return _dumps(registered_here())


def _dumps(carried: Carried) -> bytes:
    modules = {defining_module(p) for plugins in carried.values() for p in plugins.values()}
    ours = [
        sys.modules[name]
        for name in sorted(modules - cloudpickle.list_registry_pickle_by_value())
        if name in sys.modules and name != "__main__"  # __main__ goes by value anyway
    ]
    for module in ours:
        cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(carried))
    finally:
        for module in ours:
            cloudpickle.unregister_pickle_by_value(module)


def unpack(packed: bytes) -> None:
    """In a worker: register the plugins carried from the launching process."""
    carried: Carried = cloudpickle.loads(packed)
    for group, plugins in carried.items():
        for name, plugin in plugins.items():
            PLUGIN_GROUPS[group].register(name, plugin, overwrite=True)


def refuse_uncarried(jobs: Sequence[Settings], launcher: str) -> None:
    """ConfigError if a job uses a plugin registered here, under a launcher whose workers
    would not have it (``launcher``: its option, ``joblib``)."""
    here = registered_here()
    for settings in jobs:
        for group, plugins in here.items():
            name = settings.choice(group).name
            if name in plugins:
                msg = (
                    f"{_registered_here(group, name)} and "
                    f"hydra/launcher={launcher} starts workers that do not have it: put it in "
                    f"a module named in {ENV_VAR} (e.g. {ENV_VAR}=my_plugins.py), or use "
                    f"hydra/launcher=batched, which carries it to its workers"
                )
                raise ConfigError(msg)


def refuse_unpicklable(launcher: str) -> None:
    """ConfigError if a plugin registered here cannot be carried to the worker processes
    of ``launcher`` (its option, ``batched``): it, or a global of its module, cannot be
    pickled (a lock, an open file, a connection). Checked before anything is written."""
    for group, plugins in registered_here().items():
        for name, plugin in plugins.items():
            try:
                _dumps({group: {name: plugin}})
            except Exception as exc:
                msg = (
                    f"{_registered_here(group, name)} and cannot be carried to the worker "
                    f"processes of hydra/launcher={launcher} "
                    f"({type(exc).__name__}: {exc}); keep what cannot be pickled (a lock, a "
                    "file, a connection) out of its module's globals, or train in this "
                    "process: hydra.launcher.n_jobs=1"
                )
                raise ConfigError(msg) from None


def _registered_here(group: str, name: str) -> str:
    """How a line names a plugin registered in this process: ``init=mine is registered in
    this process (by __main__.mine at <stdin>:3)``."""
    return f"{group}={name} is registered in this process ({PLUGIN_GROUPS[group].origin(name)})"
