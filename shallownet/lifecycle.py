"""One job's life, for every launcher: its run opened, training, its record, a true status.

    task(cfg)                 the Hydra task function: one job (any launcher), or the
                              batch of jobs the batched launcher hands over in ``cfg.batch``
    run(jobs)                 open each job's MLflow run, train the jobs together, record
                              each one, end each run FINISHED or FAILED; the final costs

A job that breaks (its data, its plugin, its training, its record) fails
alone, with the reason on its run; an interrupt ends every open run KILLED.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow.entities import Run
from omegaconf import DictConfig

from . import interrupts, progress
from .config import store_configs
from .errors import RunFailed
from .job import Job
from .network import Network
from .outcome import Data, Outcome, build_network, diagnostics, load_data, outcome
from .plugin_modules import import_plugin_modules
from .progress import Progress
from .stack import train_stack
from .train import Callback
from .validate import hydra_job
from .vocabulary import (
    CONFIG_ARTIFACT,
    JOB_NUM_TAG,
    OUTPUT_DIR_TAG,
    OVERRIDES_ARTIFACT,
    OVERRIDES_TAG,
)

if TYPE_CHECKING:
    from .tracking.run import TrackedRun

log = logging.getLogger("shallownet")


def task(cfg: DictConfig) -> float | list[float]:
    """The Hydra task function: train and record one job, or every job of ``cfg.batch``."""
    interrupts.install()  # worker processes of parallel launchers start here
    if multiprocessing.parent_process() is not None:  # a worker (joblib's): not an orphan
        interrupts.die_with_parent()
    import_plugin_modules()
    store_configs()
    if "batch" in cfg:
        return run(Job.from_json(cfg.batch))
    return run([hydra_job(cfg)])[0]


def run(jobs: Sequence[Job]) -> list[float]:
    """Train the jobs together (the batched launcher gave them equal batch keys); record
    each one; return their final costs (nan for a failed job)."""
    tracked: list[TrackedRun | None] = []
    costs: dict[int, float] = {}  # by position in jobs
    try:
        todo = []
        with _claimed(jobs) as others:
            for k, job in enumerate(jobs):
                done = _finished(job) or others.get(job.settings.config_hash())
                if done is None:
                    todo.append(k)
                    tracked.append(_open_run(job))
                else:
                    costs[k] = _skipped(job, done)
        outcomes = _train([jobs[k] for k in todo], tracked)
        for k, run_, outcome in zip(todo, tracked, outcomes, strict=True):
            interrupts.check()
            costs[k] = _record(jobs[k], run_, outcome)
    except BaseException as exc:  # an interrupt, or a store that broke: no run stays RUNNING
        in_sweep = bool(jobs) and jobs[0].parent_run_id is not None
        if isinstance(exc, KeyboardInterrupt) and not interrupts.ends_its_runs(in_sweep):
            raise  # the sweep's parent run ends them
        _end_open_runs(tracked, exc)
        raise
    return [costs[k] for k in range(len(jobs))]


def _end_open_runs(tracked: Sequence[TrackedRun | None], exc: BaseException) -> None:
    """End the runs still open when ``exc`` stopped the jobs: KILLED on an interrupt,
    else FAILED with the reason. If the store itself broke, the next command on it
    ends them (see tracking.owner): said once, for every run it kept open."""
    kept: list[str] = []
    error: Exception | None = None
    for run_ in tracked:
        if run_ is None or run_.ended:
            continue
        try:
            if isinstance(exc, KeyboardInterrupt):
                run_.kill(interrupts.reason(exc))
            else:
                run_.fail(f"stopped by {type(exc).__name__}: {exc}")
        except Exception as failed:  # the store is broken: go on, say so below
            kept.append(run_.run_id)
            error = failed
    if error is not None:
        runs = f"MLflow run {kept[0]}" if len(kept) == 1 else f"{len(kept)} MLflow runs"
        log.error("could not end %s (the next command on the store ends them): %s", runs, error)


def _finished(job: Job) -> Run | None:
    """With ``tracking.skip_finished``: an earlier FINISHED run of this configuration."""
    tracking = job.settings.tracking
    if tracking is None or not tracking.skip_finished:
        return None
    from .tracking.claim import finished

    return finished(tracking, job.settings.config_hash())


@contextmanager
def _claimed(jobs: Sequence[Job]) -> Iterator[dict[str, Run]]:
    """The runs other commands have of these jobs of a sweep, by config hash, with the
    store's claim lock held while the block opens the others' runs (tracking.claim)."""
    tracking = jobs[0].settings.tracking if jobs else None
    parent_id = jobs[0].parent_run_id if jobs else None
    if tracking is None or parent_id is None:
        yield {}
        return
    from .tracking.claim import claiming, taken

    with claiming(tracking):
        yield taken(tracking, parent_id, [job.settings.config_hash() for job in jobs])


def _skipped(job: Job, done: Run) -> float:
    """Say why a job is skipped (its configuration FINISHED, or another command of the
    sweep is training it); its final cost (nan while it trains elsewhere)."""
    from .tracking.claim import owner

    if done.info.status == "FINISHED":
        line = f"{job.label}: skipped, already FINISHED as MLflow run {done.info.run_id}"
        progress.job_ended(log.info, line)
        return float(done.data.metrics.get("final_cost", math.nan))
    line = (
        f"{job.label}: skipped, another command of this sweep is training it "
        f"({owner(done)}, MLflow run {done.info.run_id})"
    )
    progress.job_ended(log.info, line)
    return math.nan


def _open_run(job: Job) -> TrackedRun | None:
    """Create the job's MLflow run (a child of the sweep's parent run in a multirun)."""
    if job.settings.tracking is None:
        return None
    from .tracking.run import TrackedRun

    tags = {OVERRIDES_TAG: ",".join(job.overrides), OUTPUT_DIR_TAG: job.output_dir}
    tracking = job.settings.tracking
    if job.multirun and tracking.parent_run_id:
        tags[JOB_NUM_TAG] = str(job.num)
        if tracking.view_tag and tracking.view_group is not None:
            tags[tracking.view_tag] = tracking.view_group
    return TrackedRun(job.settings, job.label, tags, Path(job.launch_dir))


Ended = Outcome | Exception  # a trained job, or what stopped it


def _train(jobs: Sequence[Job], tracked: Sequence[TrackedRun | None]) -> list[Ended]:
    """Each job's trained result, or the exception that stopped it (data, plugin, training)."""
    if not jobs:
        return []
    try:
        with interrupts.plugin_faults():
            data = load_data(jobs[0].settings)
    except Exception as exc:
        return [exc] * len(jobs)
    outcomes: dict[int, Ended] = {}
    nets: dict[int, Network] = {}
    for k, job in enumerate(jobs):
        try:
            with interrupts.plugin_faults():
                nets[k] = build_network(job.settings, n_x=data.X.shape[0])
        except Exception as exc:
            outcomes[k] = exc
    members = list(nets)
    try:
        if members:
            with interrupts.plugin_faults():
                results = _train_together(
                    [jobs[k] for k in members],
                    list(nets.values()),
                    data,
                    [tracked[k] for k in members],
                )
            outcomes.update(zip(members, results, strict=True))
    except Exception as exc:
        if len(members) == 1:
            outcomes[members[0]] = exc
        else:  # which job broke it? train each alone: only that one fails
            log.warning(
                "training %d networks raised %s: %s; training its jobs one by one",
                len(members),
                type(exc).__name__,
                exc,
            )
            for k in members:
                outcomes[k] = _train([jobs[k]], [tracked[k]])[0]
    return [outcomes[k] for k in range(len(jobs))]


def _train_together(
    jobs: Sequence[Job],
    nets: Sequence[Network],
    data: Data,
    tracked: Sequence[TrackedRun | None],
) -> list[Outcome]:
    initials = [net.copy() for net in nets]
    callbacks: list[list[Callback]] = []
    for job, run_ in zip(jobs, tracked, strict=True):
        metrics = [run_.restart_metrics()] if run_ is not None else []
        callbacks.append([interrupts.StopOnSignal(job.settings.diagnostics_every), *metrics])
    label = jobs[0].label if len(jobs) == 1 else f"{len(jobs)} networks ({jobs[0].label}, ...)"
    callbacks[0].append(Progress(label))
    histories = train_stack(
        nets,
        data.X,
        data.Y,
        [job.settings.learning_rate for job in jobs],
        jobs[0].settings.iterations,
        callbacks,
        # once on the stack, before each member's callbacks (jobs of a batch share the
        # diagnostics settings and data: Settings.batch_key)
        stack_callbacks=[diagnostics(jobs[0].settings, data)],
    )
    return [
        outcome(net, initial, data, history)
        for net, initial, history in zip(nets, initials, histories, strict=True)
    ]


def _record(job: Job, tracked: TrackedRun | None, ended: Ended) -> float:
    """Record a job's outcome on its run, print its summary line; return its final cost."""
    status = "FAILED" if isinstance(ended, Exception) else ended.status
    if tracked is not None and not isinstance(ended, Exception):
        files = {CONFIG_ARTIFACT: job.config_yaml(), OVERRIDES_ARTIFACT: job.overrides_yaml()}
        try:
            status = tracked.finish(ended, files, job.label)
        except Exception as exc:  # the record itself failed: that job fails, with the reason
            ended = RuntimeError(f"recording failed: {type(exc).__name__}: {exc}")
            ended.__cause__ = exc
    if isinstance(ended, Exception):
        reason = f"{type(ended).__name__}: {ended}"
        if tracked is not None:
            tracked.fail(reason)
        if not job.multirun:
            msg = f"{job.label}: run failed: {reason}"
            raise RunFailed(msg) from ended
        progress.job_ended(log.error, f"{job.label}: FAILED: {reason}")
        return math.nan
    history = ended.history
    text = f"{job.label}: {status}, final cost {history.final_cost:.6f}"
    if status == "FINISHED":
        text += f", train accuracy {ended.train_accuracy:.4f}"
        if ended.test_accuracy is not None:
            text += f", test accuracy {ended.test_accuracy:.4f}"
    else:
        text += f" ({history.failure_reason})"
    tracking = job.settings.tracking
    if tracked is not None and tracking is not None:
        text += f"; MLflow run {tracked.run_id} in {tracking.uri}"
    if job.multirun:
        progress.job_ended(log.info, text)  # after its place in the sweep
    else:
        log.info(text)
    if not job.multirun and tracking is not None:
        from .tracking.store import ui_command, ui_port

        log.info("  browse: %s", ui_command(tracking.uri, ui_port()))
    if status == "FAILED" and not job.multirun:
        msg = f"{job.label}: {history.failure_reason}"
        raise RunFailed(msg)
    return history.final_cost
