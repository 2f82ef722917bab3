"""Runs of a sweep, read from MLflow into tidy pandas frames.

- :func:`load_sweep` returns a :class:`Sweep`: ``runs`` (one row per job of
  the sweep that has a run: params, summary metrics, status), ``curves`` (one
  row per run × step of the ``cost`` history), ``keys`` (the swept keys, as run
  columns) and ``missing`` (the jobs planned that have no run at all).
- A :class:`Sweep` gives the report's tables (``per_run()``, ``table()``) and draws its
  figures as matplotlib figures (``cost_figure()``, ``summary_figure()``,
  ``layers_figure()``), shown inline in a notebook.

A job's run is its newest FINISHED run under the parent, else its newest run
there, else (for a resumed sweep that skipped it) a FINISHED run of the same
configuration elsewhere in the experiment. Before reading, RUNNING runs whose
process vanished are ended KILLED, so the statuses read are true.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..diagnostics import layer_suffix
from ..errors import ConfigError
from ..settings import record_key
from ..tracking.mlflow_internals import metric_history_bulk
from ..tracking.owner import end_vanished, running_elsewhere
from ..tracking.runs import newest_finished, newest_per_config, search
from ..vocabulary import (
    COST,
    JOB_NUM_TAG,
    JOBS_ARTIFACT,
    PARENT_TAG,
    REASON_TAG,
    ROLE_TAG,
    SEARCH_TAG,
    SWEEP_ROLE,
)
from .tables import DEFAULT_THRESHOLD, comparison, configurations, hidden_layers, per_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Sweep:
    parent_id: str
    parent_name: str
    runs: pd.DataFrame
    curves: pd.DataFrame
    keys: list[str]
    missing: list[str] = field(default_factory=list)  # labels of planned jobs with no run
    # networks of several hidden layers: one run per configuration, its activations'
    # mean and spread per layer over training (run_id, layer, step, mean, std)
    layers: pd.DataFrame = field(default_factory=pd.DataFrame)
    # another sweeper's search: what it searched for ("optuna: minimize final_cost")
    search: str | None = None
    # RUNNING runs of the experiment on other hosts that nothing here could end, by host
    elsewhere: dict[str, int] = field(default_factory=dict)
    # per_run's table by threshold, computed once (the tables and figures all read it)
    _per_run: dict[float, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def statuses(self) -> dict[str, int]:
        """How many jobs ended in each status (``MISSING``: never started)."""
        counts = {str(k): int(v) for k, v in self.runs["status"].value_counts().items()}
        if self.missing:
            counts["MISSING"] = len(self.missing)
        return dict(sorted(counts.items()))

    @property
    def unfinished(self) -> list[str]:
        """Run names of the jobs without a FINISHED run, then the missing ones."""
        names = self.runs.loc[self.runs["status"] != "FINISHED", "run_name"]
        return [str(name) for name in names] + self.missing

    @property
    def group_keys(self) -> list[str]:
        """Swept keys except the seed: what a row of the comparison is."""
        return [k for k in self.keys if k != "seed"]

    def per_run(self, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
        """One row per run: its swept keys, status, summary metrics, and the steps its
        cost took to fall below ``threshold``."""
        if threshold not in self._per_run:
            self._per_run[threshold] = per_run(self.runs, self.curves, self.keys, threshold)
        return self._per_run[threshold]

    def table(self, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
        """The comparison: one row per configuration, each summary as its median, min
        and max over the seeds (the report's ``table.csv``)."""
        return comparison(self.per_run(threshold), self.group_keys)

    def cost_figure(self, threshold: float = DEFAULT_THRESHOLD) -> Figure:
        """The cost curves: median over seeds with the min–max band, per configuration."""
        from .figures import cost_grid

        return cost_grid(self.per_run(threshold), self.curves, self.group_keys)

    def summary_figure(self, threshold: float = DEFAULT_THRESHOLD) -> Figure:
        """Final cost, distinct units and saturation at initialization, per configuration."""
        from .figures import summary_chart

        return summary_chart(self.per_run(threshold), self.group_keys)

    def layers_figure(self) -> Figure | None:
        """Per hidden layer, the mean and spread of its activations over training (None
        for networks of one hidden layer)."""
        from .figures import layer_grid

        return None if self.layers.empty else layer_grid(self.runs, self.layers, self.group_keys)


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
        try:
            run = client.get_run(parent_id)
        except MlflowException:
            run = None
        if run is None or run.data.tags.get(ROLE_TAG) != SWEEP_ROLE:
            msg = (
                f"--parent-run-id={parent_id!r} is invalid: no sweep's parent run has this id; "
                f"omit it for the latest sweep"
            )
            raise ConfigError(msg)
        return run
    parents = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = '{SWEEP_ROLE}'",
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
            "failure_reason": run.data.tags.get(REASON_TAG),
            "job_num": int(run.data.tags.get(JOB_NUM_TAG, -1)),
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


def curves_frame(client: MlflowClient, run_ids: list[str], metric: str = COST) -> pd.DataFrame:
    """One row per run × step: ``run_id``, ``step``, ``value`` of a metric's history,
    runs in the order given, steps ascending."""
    rows = histories_at_once(client, run_ids, metric)
    if rows is None:  # a tracking server: one request per run
        rows = [
            (run_id, m.step, m.value)
            for run_id in run_ids
            for m in client.get_metric_history(run_id, metric)
        ]
    frame = pd.DataFrame(rows, columns=["run_id", "step", "value"])
    position = frame["run_id"].map({run_id: k for k, run_id in enumerate(run_ids)})
    return (
        frame.assign(position=position)
        .sort_values(["position", "step"], kind="stable")
        .drop(columns="position")
        .reset_index(drop=True)
    )


HISTORY_CHUNK = 500  # run ids per query (SQLite allows 999 bound parameters before 3.32)


def histories_at_once(
    client: MlflowClient, run_ids: list[str], metric: str
) -> list[tuple[str, int, float]] | None:
    """A metric's history of many runs in a few queries where the store is a database
    (20 s for a sweep of 2,000 runs one by one); None for other stores."""
    return metric_history_bulk(client, run_ids, metric, HISTORY_CHUNK)


def layer_curves(client: MlflowClient, runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """For the first FINISHED run of each configuration: the mean and standard deviation
    of each hidden layer's activations over training (``act_mean``, ``act_std``), as
    Glorot & Bengio 2010 plot them (Figures 2-3). Empty for one hidden layer."""
    n = hidden_layers(runs)
    if n < 2:
        return pd.DataFrame(columns=["run_id", "layer", "step", "mean", "std"])
    finished = runs[runs["status"] == "FINISHED"]
    first = [group["run_id"].iloc[0] for _, group in configurations(finished, by)]
    frames = []
    for l in range(1, n + 1):
        s = layer_suffix(l)
        mean = curves_frame(client, first, f"act_mean{s}").rename(columns={"value": "mean"})
        std = curves_frame(client, first, f"act_std{s}").rename(columns={"value": "std"})
        frames.append(mean.merge(std, on=["run_id", "step"]).assign(layer=l))
    return pd.concat(frames, ignore_index=True)[["run_id", "layer", "step", "mean", "std"]]


def planned_jobs(client: MlflowClient, parent: Run) -> list[dict[str, Any]] | None:
    """The jobs a sweep planned (num, label, config_hash), as its parent recorded them."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(parent.info.run_id, JOBS_ARTIFACT, tmp)
        except Exception:  # a sweep recorded before shallownet kept its plan
            return None
        planned: list[dict[str, Any]] = json.loads(Path(path).read_text())
    return planned


def _job_runs(client: MlflowClient, parent: Run) -> tuple[list[Run], list[str]]:
    """Each planned job's run (see the module's docstring), and the labels of jobs without."""
    experiment_id = parent.info.experiment_id
    where = f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
    children = search(client, experiment_id, where, newest_first=True)
    planned = planned_jobs(client, parent)
    if planned is None:
        return children, []
    best = newest_per_config(children, prefer_finished=True)
    found: list[Run] = []
    missing: list[str] = []
    for job in planned:
        chosen = best.get(job["config_hash"])
        if chosen is None or chosen.info.status != "FINISHED":
            chosen = newest_finished(client, experiment_id, job["config_hash"]) or chosen
        if chosen is None:
            missing.append(str(job["label"]))
        else:
            found.append(chosen)
    return found, missing


def load_sweep(uri: str, experiment: str = "shallownet", parent_id: str | None = None) -> Sweep:
    """Read a sweep (the latest by default) into tidy frames."""
    client = MlflowClient(uri)
    experiment_id = _experiment_id(client, experiment, uri)
    end_vanished(client, experiment_id)
    parent = find_parent(client, experiment_id, parent_id)
    children, missing = _job_runs(client, parent)
    runs = runs_frame(children)
    if runs.empty:
        msg = f"sweep {parent.info.run_id} has no runs"
        raise ConfigError(msg)
    runs = runs.sort_values("job_num", kind="stable").reset_index(drop=True)
    for column in ("seed", "train.iterations"):
        if column in runs.columns:
            runs[column] = pd.to_numeric(runs[column])
    sweep = Sweep(
        parent_id=parent.info.run_id,
        parent_name=parent.info.run_name or parent.info.run_id,
        runs=runs,
        curves=curves_frame(client, list(runs["run_id"])),
        keys=swept_keys(parent, runs),
        missing=missing,
        search=parent.data.tags.get(SEARCH_TAG),
        elsewhere=dict(running_elsewhere(client, experiment_id)),
    )
    sweep.layers = layer_curves(client, runs, sweep.group_keys)
    return sweep
