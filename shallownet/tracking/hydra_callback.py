"""Hydra callback in the launching process: the store before any job, the parent run of a sweep.

- ``on_run_start``: create the store and experiment (a single run is a plain run).
- ``on_multirun_start``: create them once, before parallel jobs could race a fresh
  SQLite file, then the sweep's parent run; its id reaches the jobs through the
  ``SHALLOWNET_PARENT_RUN_ID`` environment variable, which launchers pass on.
- ``on_multirun_end``: end the parent run and say where to look.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from .. import __version__
from ..config import TrackingSettings, validate
from ..errors import abort_on_user_error
from ..sweep import launch_dir
from .run import PARENT_TAG
from .store import prepare, retry, ui_command

PARENT_ENV = "SHALLOWNET_PARENT_RUN_ID"
PARENT_URI_ENV = "SHALLOWNET_PARENT_RUN_URI"


def _tracking(config: DictConfig) -> TrackingSettings | None:
    return validate(config, launch_dir(config)).tracking


def child_statuses(client: MlflowClient, experiment_id: str, parent_id: str) -> Counter[str]:
    """How many child runs of a parent ended in each status."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'", max_results=50_000
    )
    return Counter(run.info.status for run in runs)


def end_parent_run(uri: str, parent_id: str, status: str) -> Counter[str]:
    """Record the children's statuses on the parent run and end it.

    A child still RUNNING at this point belongs to a job that was stopped before it
    could end its run (an interrupt in a worker, say): it ends KILLED.
    """
    client = MlflowClient(uri)
    run = client.get_run(parent_id)
    running = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}' and attributes.status = 'RUNNING'",
        max_results=50_000,
    )
    for child in running:
        retry(client.set_terminated, child.info.run_id, "KILLED")
    counts = child_statuses(client, run.info.experiment_id, parent_id)
    for key, n in counts.items():
        retry(client.set_tag, parent_id, f"children_{key.lower()}", str(n))
    retry(client.set_terminated, parent_id, status)
    return counts


def end_open_sweep(status: str) -> tuple[str, str, Counter[str]] | None:
    """End the parent run this process opened, if it is still open.

    Returns its store's URI, its id and its children's statuses; None when no
    sweep is open (not a sweep, tracking off, or already ended).
    """
    parent_id = os.environ.pop(PARENT_ENV, None)
    uri = os.environ.pop(PARENT_URI_ENV, None)
    if parent_id is None or uri is None:
        return None
    return uri, parent_id, end_parent_run(uri, parent_id, status)


class ParentRun(Callback):
    """Create the MLflow store up front and group a sweep's jobs under one parent run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with abort_on_user_error():
            tracking = _tracking(config)
            if tracking is not None:
                prepare(tracking)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        with abort_on_user_error():
            tracking = _tracking(config)
            if tracking is None:
                return
            experiment_id = prepare(tracking)
        client = MlflowClient(tracking.uri)
        params = dict(config.hydra.sweeper.get("params") or {})
        for override in config.hydra.overrides.task:
            key, _, value = str(override).partition("=")
            params[key] = value
        choice = config.hydra.runtime.choices.get("experiment", "")
        name = f"sweep {choice}: " + " ".join(f"{k}={v}" for k, v in params.items())
        run = retry(
            client.create_run,
            experiment_id,
            run_name=name[:250],
            tags={
                "shallownet.version": __version__,
                "shallownet.role": "sweep",
                "shallownet.sweep_dir": str(launch_dir(config) / config.hydra.sweep.dir),
                "shallownet.experiment_preset": str(choice),
            },
        )
        run_id = run.info.run_id
        items = [Param(f"sweep.{k}", str(v)[:6000]) for k, v in params.items()]
        if items:
            retry(client.log_batch, run_id, params=items)
        os.environ[PARENT_ENV] = run_id
        os.environ[PARENT_URI_ENV] = tracking.uri

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        ended = end_open_sweep("FINISHED")
        if ended is None:
            return
        uri, parent_id, counts = ended
        experiment = config.tracking.experiment
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(
            f"\nshallownet: {sum(counts.values())} runs ({summary}) under parent run {parent_id} "
            f"in experiment {experiment!r} of {uri}\n"
            f"  compare: shallownet-report --tracking-uri {uri}\n"
            f"  browse:  {ui_command(uri)}",
            flush=True,
        )
