"""Resuming a sweep: find configurations that already FINISHED in the store."""

from __future__ import annotations

import math

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from ..config import TrackingSettings
from .run import CONFIG_HASH_TAG
from .store import prepare


def newest_finished(client: MlflowClient, experiment_id: str, config_hash: str) -> Run | None:
    """The newest FINISHED run of this configuration in the experiment, if any."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{CONFIG_HASH_TAG}` = '{config_hash}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def find_finished(tracking: TrackingSettings, config_hash: str) -> tuple[str, float] | None:
    """The id and final cost of a FINISHED run with this config hash, newest first; else None."""
    experiment_id = prepare(tracking)  # first: it creates the store safely
    run = newest_finished(MlflowClient(tracking.uri), experiment_id, config_hash)
    if run is None:
        return None
    return run.info.run_id, float(run.data.metrics.get("final_cost", math.nan))
