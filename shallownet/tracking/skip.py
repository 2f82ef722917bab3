"""Resuming a sweep: find configurations that already FINISHED in the store."""

from __future__ import annotations

import math

from mlflow.tracking import MlflowClient

from ..settings import TrackingSettings
from .runs import newest_finished
from .store import prepare


def find_finished(tracking: TrackingSettings, config_hash: str) -> tuple[str, float] | None:
    """The id and final cost of a FINISHED run with this config hash, newest first; else None."""
    experiment_id = prepare(tracking)  # first: it creates the store safely
    run = newest_finished(MlflowClient(tracking.uri), experiment_id, config_hash)
    if run is None:
        return None
    return run.info.run_id, float(run.data.metrics.get("final_cost", math.nan))
