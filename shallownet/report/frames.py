"""Runs of a sweep, read from MLflow into tidy pandas frames.

- :func:`load_sweep` returns a :class:`Sweep`: ``runs`` (one row per child
  run: params, summary metrics, status), ``curves`` (one row per run × step of
  the ``cost`` history), and ``keys`` (the swept keys, as run columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from ..config import record_key
from ..errors import ConfigError


@dataclass
class Sweep:
    parent_id: str
    parent_name: str
    runs: pd.DataFrame
    curves: pd.DataFrame
    keys: list[str]

    @property
    def group_keys(self) -> list[str]:
        """Swept keys except the seed: what a row of the comparison is."""
        return [k for k in self.keys if k != "seed"]


def _experiment_id(client: MlflowClient, experiment: str, uri: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        msg = (
            f"no MLflow experiment {experiment!r} in {uri}; run a sweep first "
            f"(shallownet -m) or pass --experiment"
        )
        raise ConfigError(msg)
    return str(found.experiment_id)


def find_parent(client: MlflowClient, experiment_id: str, parent_id: str | None) -> Run:
    """The given sweep's parent run, or the latest one."""
    if parent_id is not None:
        return client.get_run(parent_id)
    parents = client.search_runs(
        [experiment_id],
        filter_string="tags.`shallownet.role` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        msg = "no sweep in this experiment yet; run one with shallownet -m"
        raise ConfigError(msg)
    return parents[0]


def runs_frame(children: list[Run]) -> pd.DataFrame:
    """One row per run: ``run_id``, ``run_name``, ``status``, every param and metric."""
    rows: list[dict[str, Any]] = []
    for run in children:
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "failure_reason": run.data.tags.get("failure_reason"),
            "job_num": int(run.data.tags.get("shallownet.job_num", -1)),
        }
        row.update(run.data.params)
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows)


def swept_keys(parent: Run, runs: pd.DataFrame) -> list[str]:
    """The run columns a sweep varied, in the order they were swept."""
    keys = []
    for name in parent.data.params:
        if not name.startswith("sweep."):
            continue
        column = record_key(name[len("sweep.") :])
        if column in runs.columns and len(set(runs[column])) > 1:
            keys.append(column)
    return keys


def curves_frame(client: MlflowClient, run_ids: list[str], metric: str = "cost") -> pd.DataFrame:
    """One row per run × step: ``run_id``, ``step``, ``value`` of a metric's history."""
    rows = [
        (run_id, m.step, m.value)
        for run_id in run_ids
        for m in client.get_metric_history(run_id, metric)
    ]
    return pd.DataFrame(rows, columns=["run_id", "step", "value"])


def load_sweep(uri: str, experiment: str = "shallownet", parent_id: str | None = None) -> Sweep:
    """Read a sweep (the latest by default) into tidy frames."""
    client = MlflowClient(uri)
    parent = find_parent(client, _experiment_id(client, experiment, uri), parent_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        max_results=50_000,
    )
    runs = runs_frame(children)
    if not runs.empty:
        runs = runs.sort_values("job_num", kind="stable").reset_index(drop=True)
    if runs.empty:
        msg = f"sweep {parent.info.run_id} has no runs"
        raise ConfigError(msg)
    for column in ("seed", "train.iterations"):
        if column in runs.columns:
            runs[column] = pd.to_numeric(runs[column])
    return Sweep(
        parent_id=parent.info.run_id,
        parent_name=parent.info.run_name or parent.info.run_id,
        runs=runs,
        curves=curves_frame(client, list(runs["run_id"])),
        keys=swept_keys(parent, runs),
    )
