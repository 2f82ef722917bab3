"""Reports: a sweep's runs as pandas frames, comparison tables and figures.

from shallownet.report import load_sweep, per_run, comparison
sweep = load_sweep("sqlite:///path/to/mlflow.db")         # the latest sweep
runs = per_run(sweep.runs, sweep.curves, sweep.keys)       # one row per run
table = comparison(runs, by=sweep.group_keys)              # median/min/max over seeds

Its names are imported when first used (MLflow takes seconds to import): the
``shallownet-report`` command handles Ctrl-C from its first moments.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .. import tracking  # noqa: F401  (MLflow's settings, before MLflow is imported)

if TYPE_CHECKING:
    from .frames import Sweep, load_sweep
    from .tables import comparison, per_run, readable, steps_to_threshold, to_markdown

_HOME = {
    "Sweep": "frames",
    "load_sweep": "frames",
    "comparison": "tables",
    "per_run": "tables",
    "readable": "tables",
    "steps_to_threshold": "tables",
    "to_markdown": "tables",
}
__all__ = [  # as _HOME lists them (a test holds the two equal)
    "Sweep",
    "comparison",
    "load_sweep",
    "per_run",
    "readable",
    "steps_to_threshold",
    "to_markdown",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
