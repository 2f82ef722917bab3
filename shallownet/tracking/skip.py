"""Resuming a sweep: find configurations that already FINISHED in the store."""

from __future__ import annotations

import math

from mlflow.tracking import MlflowClient

from ..config import TrackingSettings
from .store import prepare


def find_finished(tracking: TrackingSettings, config_hash: str) -> tuple[str, float] | None:
    """The id and final cost of a FINISHED run with this config hash, newest first; else None."""
    runs = MlflowClient(tracking.uri).search_runs(
        [prepare(tracking)],
        filter_string=(
            f"tags.`shallownet.config_hash` = '{config_hash}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    return run.info.run_id, float(run.data.metrics.get("final_cost", math.nan))
