"""One job's life, for every launcher: its run opened, training, its record, a true status.

    task(cfg)                 the Hydra task function: one job (any launcher), or the
                              batch of jobs the batched launcher hands over in ``cfg.batch``
    run(jobs)                 open each job's MLflow run, train the jobs together, record
                              each one, end each run FINISHED or FAILED; the final costs

A job that breaks (its data, its plugin, its training, its record) fails
alone, with the reason on its run; an interrupt ends every open run KILLED.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import interrupts
from . import job as steps
from .config import Settings, TrackingSettings, store_configs
from .errors import RunFailed
from .network import Network
from .plugin_modules import import_plugin_modules
from .progress import Progress
from .train import Callback, train_batch

if TYPE_CHECKING:
    from .tracking.run import TrackedRun

log = logging.getLogger("shallownet")

# The sweep's parent run, for the jobs of a sweep (launchers pass the environment on).
PARENT_ENV = "SHALLOWNET_PARENT_RUN_ID"
GROUP_ENV = "SHALLOWNET_GROUPING"  # how the sweep's view groups its runs (tracking.view)
# libyaml's dumper where PyYAML has it: the same text, 4x faster (twice per job of a sweep)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Job:
    """A validated job and where it sits: its run name, overrides, number and folder."""

    settings: Settings
    label: str  # the run name: the values the job's overrides set
    overrides: tuple[str, ...]
    num: int
    multirun: bool
    output_dir: str
    launch_dir: str
    config: dict[str, Any]  # the resolved config, recorded with the run (config.yaml)

    def config_yaml(self) -> str:
        """``config.yaml``: the job's resolved config."""
        return yaml.dump(self.config, Dumper=_YAML_DUMPER, sort_keys=False)

    def overrides_yaml(self) -> str:
        """``overrides.yaml``: the job's overrides, as Hydra writes them."""
        return yaml.dump(list(self.overrides), Dumper=_YAML_DUMPER)

    @classmethod
    def from_hydra(cls, cfg: DictConfig, hydra_cfg: Any) -> Job:
        """A job as any Hydra launcher runs it: its config (no ``hydra`` node) is validated."""
        launch = Path(hydra_cfg.runtime.cwd)
        job_settings = steps.validate(cfg, launch, choices=hydra_cfg.runtime.choices)
        overrides = tuple(str(o) for o in hydra_cfg.overrides.task)
        return cls(
            settings=job_settings,
            label=job_settings.label(overrides),
            overrides=overrides,
            num=int(hydra_cfg.job.get("num") or 0),
            multirun=hydra_cfg.mode == RunMode.MULTIRUN,
            output_dir=str(hydra_cfg.runtime.output_dir),
            launch_dir=str(launch),
            config=_plain(cfg),
        )

    @staticmethod
    def batch(jobs: Sequence[Job]) -> str:
        """Jobs as one JSON text, for a batch config (``cfg.batch``, see :func:`task`):
        one string node, where a list of configs would cost OmegaConf a node per value."""
        entries = []
        for job in jobs:
            fields = asdict(job)
            tracking = job.settings.tracking
            fields["settings"] = {
                "record": dict(job.settings.record),
                "tracking": tracking and asdict(tracking),
            }
            entries.append(fields)
        return json.dumps(entries)

    @classmethod
    def from_batch(cls, text: str) -> list[Job]:
        jobs = []
        for entry in json.loads(text):
            saved = entry["settings"]
            tracking = saved["tracking"] and TrackingSettings(**saved["tracking"])
            fields = {**entry, "overrides": tuple(entry["overrides"])}
            fields["settings"] = Settings(saved["record"], tracking)
            jobs.append(cls(**fields))
        return jobs


def task(cfg: DictConfig) -> float | list[float]:
    """The Hydra task function: train and record one job, or every job of ``cfg.batch``."""
    from hydra.core.hydra_config import HydraConfig

    interrupts.install()  # worker processes of parallel launchers start here
    import_plugin_modules()
    store_configs()
    if "batch" in cfg:
        return run(Job.from_batch(cfg.batch))
    return run([Job.from_hydra(cfg, HydraConfig.get())])[0]


def run(jobs: Sequence[Job]) -> list[float]:
    """Train the jobs together (the batched launcher gave them equal batch keys); record
    each one; return their final costs (nan for a failed job)."""
    tracked: list[TrackedRun | None] = []
    costs: dict[int, float] = {}  # by position in jobs
    try:
        todo = []
        for k, job in enumerate(jobs):
            done = _finished(job)
            if done is None:
                todo.append(k)
                tracked.append(_open_run(job))
            else:
                log.info("%s: skipped, already FINISHED as MLflow run %s", job.label, done[0])
                costs[k] = done[1]
        outcomes = _train([jobs[k] for k in todo], tracked)
        for k, run_, outcome in zip(todo, tracked, outcomes, strict=True):
            interrupts.check()
            costs[k] = _record(jobs[k], run_, outcome)
    except BaseException as exc:  # an interrupt, or a store that broke: no run stays RUNNING
        if isinstance(exc, KeyboardInterrupt) and os.environ.get(PARENT_ENV):
            # A sweep's parent run, in the launching process, ends its children still
            # RUNNING as KILLED: one writer, where every worker at once contends for SQLite.
            raise
        _end_open_runs(tracked, exc)
        raise
    return [costs[k] for k in range(len(jobs))]


def _end_open_runs(tracked: Sequence[TrackedRun | None], exc: BaseException) -> None:
    """End the runs still open when ``exc`` stopped the jobs: KILLED on an interrupt,
    else FAILED with the reason. If the store itself broke, the next command on it
    ends them (see tracking.owner)."""
    for run_ in tracked:
        if run_ is None or run_.ended:
            continue
        try:
            if isinstance(exc, KeyboardInterrupt):
                run_.kill(interrupts.reason(exc))
            else:
                run_.fail(f"stopped by {type(exc).__name__}: {exc}")
        except Exception as error:  # the store is broken: say so, go on
            log.error("could not end MLflow run %s: %s", run_.run_id, error)


def _finished(job: Job) -> tuple[str, float] | None:
    """With ``tracking.skip_finished``: an earlier FINISHED run of this configuration."""
    tracking = job.settings.tracking
    if tracking is None or not tracking.skip_finished:
        return None
    from .tracking.skip import find_finished

    return find_finished(tracking, job.settings.config_hash())


def _open_run(job: Job) -> TrackedRun | None:
    """Create the job's MLflow run (a child of the sweep's parent run in a multirun)."""
    if job.settings.tracking is None:
        return None
    from .tracking.run import TrackedRun

    tags = {
        "shallownet.overrides": ",".join(job.overrides),
        "shallownet.output_dir": job.output_dir,
    }
    parent = os.environ.get(PARENT_ENV)
    if job.multirun and parent:
        tags["shallownet.job_num"] = str(job.num)
        if grouping := os.environ.get(GROUP_ENV):
            from .tracking.view import Grouping

            group = Grouping.from_json(grouping)
            tags[group.tag] = group.label(job.settings.record)
        return TrackedRun(job.settings, job.label, tags, Path(job.launch_dir), parent=parent)
    return TrackedRun(job.settings, job.label, tags, Path(job.launch_dir))


Outcome = steps.JobResult | Exception  # a trained job, or what stopped it


def _train(jobs: Sequence[Job], tracked: Sequence[TrackedRun | None]) -> list[Outcome]:
    """Each job's trained result, or the exception that stopped it (data, plugin, training)."""
    if not jobs:
        return []
    try:
        data = steps.load_data(jobs[0].settings)
    except Exception as exc:
        return [exc] * len(jobs)
    outcomes: dict[int, Outcome] = {}
    nets: dict[int, Network] = {}
    for k, job in enumerate(jobs):
        try:
            nets[k] = steps.build_network(job.settings, n_x=data.X.shape[0])
        except Exception as exc:
            outcomes[k] = exc
    members = list(nets)
    try:
        if members:
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
    data: steps.Data,
    tracked: Sequence[TrackedRun | None],
) -> list[steps.JobResult]:
    initials = [net.copy() for net in nets]
    callbacks: list[list[Callback]] = []
    for job, run_ in zip(jobs, tracked, strict=True):
        metrics = [run_.restart_metrics()] if run_ is not None else []
        callbacks.append([interrupts.StopOnSignal(job.settings.diagnostics_every), *metrics])
    label = jobs[0].label if len(jobs) == 1 else f"{len(jobs)} networks ({jobs[0].label}, ...)"
    callbacks[0].append(Progress(label))
    histories = train_batch(
        nets,
        data.X,
        data.Y,
        [job.settings.learning_rate for job in jobs],
        jobs[0].settings.iterations,
        callbacks,
        # once on the stack, before each member's callbacks (jobs of a batch share the
        # diagnostics settings and data: Settings.batch_key)
        batch_callbacks=[steps.diagnostics(jobs[0].settings, data)],
    )
    return [
        steps.result(net, initial, data, history)
        for net, initial, history in zip(nets, initials, histories, strict=True)
    ]


def _record(job: Job, tracked: TrackedRun | None, outcome: Outcome) -> float:
    """Record a job's outcome on its run, print its summary line; return its final cost."""
    status = "FAILED" if isinstance(outcome, Exception) else outcome.status
    if tracked is not None and not isinstance(outcome, Exception):
        files = {"config.yaml": job.config_yaml(), "overrides.yaml": job.overrides_yaml()}
        try:
            status = tracked.finish(outcome, files, job.label)
        except Exception as exc:  # the record itself failed: that job fails, with the reason
            outcome = RuntimeError(f"recording failed: {type(exc).__name__}: {exc}")
            outcome.__cause__ = exc
    if isinstance(outcome, Exception):
        reason = f"{type(outcome).__name__}: {outcome}"
        if tracked is not None:
            tracked.fail(reason)
        if not job.multirun:
            msg = f"{job.label}: run failed: {reason}"
            raise RunFailed(msg) from outcome
        log.error("%s: FAILED: %s", job.label, reason)
        return math.nan
    history = outcome.history
    text = f"{job.label}: {status}, final cost {history.final_cost:.6f}"
    if status == "FINISHED":
        text += f", train accuracy {outcome.train_accuracy:.4f}"
        if outcome.test_accuracy is not None:
            text += f", test accuracy {outcome.test_accuracy:.4f}"
    else:
        text += f" ({history.failure_reason})"
    tracking = job.settings.tracking
    if tracked is not None and tracking is not None:
        text += f"; MLflow run {tracked.run_id} in {tracking.uri}"
    log.info(text)
    if not job.multirun and tracking is not None:
        from .tracking.store import ui_command

        log.info("  browse: %s", ui_command(tracking.uri))
    if status == "FAILED" and not job.multirun:
        msg = f"{job.label}: {history.failure_reason}"
        raise RunFailed(msg)
    return history.final_cost


def _plain(cfg: DictConfig) -> dict[str, Any]:
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    return {str(key): value for key, value in plain.items()}
