"""Reports: a sweep's runs as pandas frames, comparison tables and figures.

from shallownet.report import load_sweep, per_run, comparison
sweep = load_sweep("sqlite:///path/to/mlflow.db")         # the latest sweep
runs = per_run(sweep.runs, sweep.curves, sweep.keys)       # one row per run
table = comparison(runs, by=sweep.group_keys)              # median/min/max over seeds
"""

from .. import tracking  # noqa: F401  (MLflow's settings, before MLflow is imported)
from .frames import Sweep, load_sweep
from .tables import comparison, per_run, readable, steps_to_threshold, to_markdown

__all__ = [
    "Sweep",
    "comparison",
    "load_sweep",
    "per_run",
    "readable",
    "steps_to_threshold",
    "to_markdown",
]
