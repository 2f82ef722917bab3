"""One MLflow run per job: params, metric curves, artifacts, and a truthful status.

Metrics reach MLflow through :class:`MlflowMetrics`, a training callback that
buffers points and writes them with ``MlflowClient.log_batch`` in chunks (one
call per point costs milliseconds on SQLite). Curves carry a bounded number
of points; the full-resolution history goes into the ``history.csv`` artifact.
"""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
)

from .. import interrupts, slurm
from ..outcome import Outcome, describe
from ..settings import Settings
from ..train import Callback, TrainState
from ..version import __version__
from ..vocabulary import (
    CONFIG_HASH_TAG,
    COST,
    FIGURES_FOLDER,
    FINAL_COST,
    GIT_COMMIT_TAG,
    HISTORY_ARTIFACT,
    NOTE_TAG,
    PARENT_TAG,
    VERSION_TAG,
    summary_names,
)
from .mlflow_internals import insert_metrics
from .owner import owner_tags
from .runs import end_run, retry
from .store import prepare


@functools.cache  # the same for every job of a sweep
def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


PER_OCTAVE = 8  # curve points for each doubling of the step, after the first 16


def on_curve(step: int, last: int, every: int, uniform: bool) -> bool:
    """Whether a step's diagnostics are a point of MLflow's curves (``history.csv`` has
    every step): the last step, and every ``every``-th step; by default (not ``uniform``)
    only the first 16 of those, then 8 for each doubling of the step: dense where curves
    change most, about 65 points over 10,000 steps recorded every 10."""
    if step == last:
        return True
    if step % every:
        return False
    if uniform:
        return True
    k = step // every
    stride = 1 << max(0, (k // PER_OCTAVE).bit_length() - 1)
    return k % stride == 0


def cost_log_every(settings: Settings) -> int:
    """Steps between points of the cost curve: about 100 points, on diagnostics steps."""
    every = settings.diagnostics_every
    return every * max(1, math.ceil(settings.iterations / (100 * every)))


class MlflowMetrics(Callback):
    """Training callback: buffer cost and recorded diagnostics, write them in batches."""

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        every: int,
        uniform: bool = True,
        cost_every: int | None = None,
        flush_seconds: float = 10.0,
    ) -> None:
        self.client, self.run_id, self.every, self.uniform = client, run_id, every, uniform
        self.cost_every = cost_every or every  # the cost curve: uniform, for the report
        self.flush_seconds = flush_seconds
        self._buffer: list[Metric] = []
        self._records_seen = 0
        self._last_flush = time.monotonic()

    def _collect(self, state: TrainState) -> None:
        now = int(time.time() * 1000)
        records = state.history.records
        last = state.iterations - 1
        for record in records[self._records_seen :]:
            step = int(record["step"])
            if not on_curve(step, last, self.every, self.uniform):
                continue  # curves carry bounded points; history.csv has them all
            self._buffer.extend(
                Metric(key, float(value), now, step)
                for key, value in record.items()
                if key != "step" and math.isfinite(float(value))
            )
        self._records_seen = len(records)

    def on_step(self, state: TrainState) -> None:
        if on_curve(state.step, state.iterations - 1, self.cost_every, uniform=True):
            self._buffer.append(Metric(COST, state.cost, int(time.time() * 1000), state.step))
        self._collect(state)
        if time.monotonic() - self._last_flush > self.flush_seconds:
            with contextlib.suppress(Exception):  # the store broke: training goes on, the
                self.flush()  # points wait in the buffer, and the record says why it failed

    def add(self, metrics: Iterable[Metric]) -> None:
        """Points to write with the next flush."""
        self._buffer.extend(metrics)

    def on_train_end(self, state: TrainState) -> None:
        self._collect(state)
        history = state.history
        if math.isfinite(history.final_cost):
            now = int(time.time() * 1000)
            steps = len(history.cost)
            self.add(
                [
                    Metric(COST, history.final_cost, now, steps),
                    Metric(FINAL_COST, history.final_cost, now, steps),
                ]
            )
        # Written by TrackedRun.finish: a store that fails here fails the job's record
        # (FAILED with the reason), not its training.

    def flush(self, tags: Sequence[RunTag] = ()) -> None:
        """Write the buffered points in as few calls as MLflow's batch limits allow;
        ``tags`` go with the last (each call is a store transaction)."""
        self._last_flush = time.monotonic()
        inserted: bool = bool(self._buffer) and retry(
            insert_metrics, self.client, self.run_id, self._buffer
        )
        if inserted:
            self._buffer.clear()  # an SQL store took them in one insert
            if tags:
                retry(self.client.log_batch, self.run_id, tags=list(tags))
            return
        size = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(tags))
        while True:
            chunk = self._buffer[:size]
            last = len(chunk) == len(self._buffer)
            if chunk or (last and tags):
                retry(
                    self.client.log_batch,
                    self.run_id,
                    metrics=chunk,
                    tags=list(tags) if last else [],
                )
            del self._buffer[: len(chunk)]  # once written, a chunk is not written again
            if last:
                return


class TrackedRun:
    """The MLflow run of one job, from creation to its final status."""

    def __init__(
        self,
        settings: Settings,
        run_name: str,
        tags: Mapping[str, str],
        launch_dir: Path,
    ) -> None:
        tracking = settings.tracking
        assert tracking is not None
        experiment_id = prepare(tracking)  # first: it creates the store safely
        self.client, self.settings = MlflowClient(tracking.uri), settings
        all_tags = {
            VERSION_TAG: __version__,
            CONFIG_HASH_TAG: settings.config_hash(),
            **owner_tags(),
            **tags,
        }
        if tracking.parent_run_id is not None:
            all_tags[PARENT_TAG] = tracking.parent_run_id
        commit = _git_commit(launch_dir)
        if commit:
            all_tags[GIT_COMMIT_TAG] = commit
        run = retry(self.client.create_run, experiment_id, run_name=run_name, tags=all_tags)
        self.run_id: str = run.info.run_id
        self.artifact_uri: str = run.info.artifact_uri or ""
        self.ended = False  # set once the run has its final status
        self.metrics = self.restart_metrics()
        items = [Param(k, v[:6000]) for k, v in settings.params().items()]
        try:
            for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
                retry(
                    self.client.log_batch,
                    self.run_id,
                    params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH],
                )
        except Exception as exc:  # nobody holds this run yet: end it here, truthfully
            self.fail(f"recording its params failed: {type(exc).__name__}: {exc}")
            raise
        except KeyboardInterrupt as exc:
            if interrupts.ends_its_runs(tracking.parent_run_id is not None):
                self.kill(interrupts.reason(exc))
            raise

    def restart_metrics(self) -> MlflowMetrics:
        """A fresh metrics callback for (another attempt at) training this run."""
        log_every = self.settings.tracking and self.settings.tracking.log_every
        every = log_every or self.settings.diagnostics_every  # by default: dense, then sparse
        # the cost at about 100 uniform points: the report reads when it crossed a threshold
        cost_every = log_every or cost_log_every(self.settings)
        self.metrics = MlflowMetrics(
            self.client, self.run_id, every, uniform=bool(log_every), cost_every=cost_every
        )
        return self.metrics

    def finish(self, result: Outcome, files: Mapping[str, str], title: str) -> str:
        """Log the curves' last points, summary metrics and artifacts; end the run FINISHED
        or FAILED; return the status."""
        tracking = self.settings.tracking
        assert tracking is not None
        history = result.history
        summary = {"train_accuracy_final": result.train_accuracy}
        if result.test_accuracy is not None:
            summary["test_accuracy_final"] = result.test_accuracy
        if history.records:
            first, last = history.records[0], history.records[-1]
            for key in summary_names(result.net.L):
                if key in first:
                    summary[f"{key}_init"] = first[key]
                    summary[f"{key}_final"] = last[key]
        now = int(time.time() * 1000)
        self.metrics.add(
            Metric(k, float(v), now, 0) for k, v in summary.items() if math.isfinite(float(v))
        )
        # the curves' last points, the summaries and the description: one transaction
        self.metrics.flush(tags=[RunTag(NOTE_TAG, describe(self.settings, result)[:5000])])

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            history.to_frame().to_csv(folder / HISTORY_ARTIFACT, float_format="%.9g")
            for name, text in files.items():
                (folder / name).write_text(text)
            X, Y = result.data.X, result.data.Y
            if tracking.draws_figures:
                from ..figures import save_run_figures

                save_run_figures(
                    folder / FIGURES_FOLDER, result.net, result.initial, history, X, Y, title
                )
            if tracking.graph and history.status == "FINISHED":
                from ..graph import network_graph
                from ..graph_figure import render

                J, _ = network_graph(result.net, X, Y)  # at the last step's parameters
                render(J, folder / FIGURES_FOLDER / "computation_graph.svg")
            self._log_artifacts(folder)

        if (ended := self._ended_elsewhere()) is not None:
            return ended
        if history.status == "FAILED":
            self.fail(history.failure_reason or "failed")
            return "FAILED"
        retry(self.client.set_terminated, self.run_id, "FINISHED")
        self.ended = True
        return "FINISHED"

    def _ended_elsewhere(self) -> str | None:
        """The status of a run of a Slurm job that its sweep has already ended (it stopped
        and could not wait for the job): it stays as the sweep left it. Elsewhere a run
        is ended by its own process alone until that process is gone."""
        if slurm.this_job() is None:
            return None
        status = str(retry(self.client.get_run, self.run_id).info.status)
        if status == "RUNNING":
            return None
        self.ended = True
        return status

    def _log_artifacts(self, folder: Path) -> None:
        """The files of ``folder`` as the run's artifacts. Where the run's artifacts are a
        local folder (``file://``, the SQLite store's ``mlartifacts/``), they are copied
        there, as MLflow's local artifact repository does, without its look-up of the run
        (several milliseconds a run); elsewhere through the client."""
        if not self.artifact_uri.startswith("file://"):
            retry(self.client.log_artifacts, self.run_id, str(folder))
            return
        target = Path(url2pathname(urlparse(self.artifact_uri).path))
        shutil.copytree(folder, target, dirs_exist_ok=True)

    def fail(self, reason: str) -> None:
        """End the run FAILED with its reason as the ``failure_reason`` tag."""
        try:
            self.metrics.flush()
        finally:
            self._end("FAILED", reason)

    def kill(self, reason: str) -> None:
        """End the run KILLED (interrupted) with the reason, unless it already ended."""
        if self.ended:
            return
        try:
            self.metrics.flush()
        finally:
            self._end("KILLED", reason)

    def _end(self, status: str, reason: str) -> None:
        end_run(self.client, self.run_id, status, reason)
        self.ended = True
