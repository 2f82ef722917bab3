"""``hydra/launcher=batched``: the compatible jobs of a sweep trained as one computation.

Jobs whose settings records differ only in seed, initializer and learning rate
(equal ``Settings.batch_key()``) form a batch. Each batch goes to the real task
function, :func:`shallownet.lifecycle.task`, through Hydra's ``run_job``, as
Hydra's joblib launcher runs one job: the batch's config lists its jobs
(``cfg.batch``: each job's validated record, run name and folder, as JSON), and
the task trains them stacked on a leading axis and records each one.

Every job still gets its own output folder with its ``.hydra/config.yaml`` and
``overrides.yaml``, its own MLflow run and its own return value (its final
cost); the batch's folder (``batches/<n>``) holds the batch's Hydra files and log.
Batches run in worker processes (``n_jobs``, default one per core:
:mod:`.workers`), or in this process with ``n_jobs=1``.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this module
# in a way under which @dataclass cannot resolve postponed annotations.
import copy
import logging
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple  # noqa: UP035

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.shallownet_hydra.batched_launcher.BatchedLauncher"
    max_batch: int = 64  # networks trained together at most
    # worker processes, each training one batch at a time and recording its jobs;
    # null: one per core (at most one per batch); 1: everything in this process
    n_jobs: Optional[int] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="shallownet"
)


def rules() -> Dict[str, Callable[[Any], Optional[str]]]:  # noqa: UP006, UP045
    """What each parameter may be (the messages name what is allowed), from the schema's
    own rules."""
    from shallownet.schema import int_at_least

    positive = int_at_least(1)

    def workers(v: Any) -> Optional[str]:  # noqa: UP045
        allowed = None if v is None else positive(v)
        return None if allowed is None else f"{allowed} or null (one worker per core)"

    return {"max_batch": positive, "n_jobs": workers}


# shallownet is imported inside functions: Hydra imports this module whenever it scans
# for plugins, in any Hydra app of the environment.


def split(
    batches: List[List[Any]],  # noqa: UP006
    max_batch: int,
    workers: int,
    memory: Optional[int],  # noqa: UP045
) -> List[List[Any]]:  # noqa: UP006
    """Cut each set of compatible jobs into batches of at most ``max_batch``, and of no
    more networks than fit in ``memory`` while ``workers`` batches train at once; with
    several workers, into at least one batch per worker, so that all of them work."""
    from shallownet.validate import networks_per_batch

    cut = []
    for jobs in batches:
        network = max(job.network_memory for job in jobs)
        batch = max(job.batch_memory for job in jobs)
        fit = networks_per_batch(network, batch, workers, memory)
        size = min(max_batch, math.ceil(len(jobs) / workers), fit)
        cut += [jobs[start : start + size] for start in range(0, len(jobs), size)]
    return cut


class BatchedLauncher(Launcher):
    def __init__(self, max_batch: int = 64, n_jobs: Optional[int] = None) -> None:  # noqa: UP045
        from shallownet.errors import ConfigError

        checks = rules()
        for key, value in (("max_batch", max_batch), ("n_jobs", n_jobs)):
            allowed = checks[key](value)
            if allowed is not None:
                msg = f"hydra.launcher.{key}={value!r} is invalid: {allowed}"
                raise ConfigError(msg)
        self.max_batch = max_batch
        self.n_jobs = n_jobs
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """For other sweepers (Optuna, ...): each batch of trials they draw, validated trial
        by trial and launched under the search's parent run (:mod:`.search`); a trial
        refused, or failed, returns the worst value there is to a sweeper that optimizes
        (nan to one that does not)."""
        from .search import jobs_of_trials, search_of

        assert self.config is not None
        assert self.hydra_context is not None
        loader = self.hydra_context.config_loader
        search = search_of(self.config)
        # the store is checked once, before the search's parent run holds it open
        checked = search.stack is not None
        jobs, refused = jobs_of_trials(
            self.config, loader, job_overrides, initial_job_idx, stores=not checked
        )
        try:
            count = search.count(initial_job_idx + len(refused), len(jobs))
            launched = self.launch_jobs(search.in_search(jobs), count) if jobs else []
            for num, reason in refused.items():
                search.refuse(job_overrides[num - initial_job_idx], num, reason)
        except BaseException as exc:  # the search stops here: its parent run ends so
            search.end(exc)
            raise
        returns = {job.num: ret for job, ret in zip(jobs, launched, strict=True)}
        worst = search.worst()
        for ret in returns.values():  # a job that failed (nan): the worst value there is
            failed = ret.status == JobStatus.COMPLETED and _is_nan(ret.return_value)
            if failed and worst is not None:
                ret.return_value = worst
        for num in refused:
            overrides = job_overrides[num - initial_job_idx]
            value = math.nan if worst is None else worst
            returns[num] = _refused_return(overrides, self.config, value)
        return [returns[initial_job_idx + k] for k in range(len(job_overrides))]

    def launch_jobs(
        self,
        jobs: Sequence[Any],
        count: Optional[Tuple[int, int, float]] = None,  # noqa: UP006, UP045
    ) -> Sequence[JobReturn]:
        """Launch validated jobs (:class:`shallownet.job.Job`), in batches trained together;
        each job's line counts them out of ``len(jobs)`` or, for a search's batch, as
        ``count`` says (trials in all, trials before this batch, when the search began)."""
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        compatible: Dict[str, List[Any]] = {}  # noqa: UP006
        for job in jobs:
            compatible.setdefault(job.settings.batch_key(), []).append(job)
        workers = self.workers()
        batches = split(list(compatible.values()), self.max_batch, workers, self.memory())
        workers = min(workers, len(batches))
        log.info(
            f"Launching {len(jobs)} jobs as {len(batches)} batch(es) of networks trained "
            f"together, {self.where(workers)}"
        )
        configs = [self.batch_config(n, batch) for n, batch in enumerate(batches)]
        for job in jobs:
            _job_files(job)
        batch_returns = self.run_counted(configs, workers, count or (len(jobs), 0, time.time()))
        returns = {}
        for batch, ret in zip(batches, batch_returns, strict=True):
            returns.update(_job_returns(batch, ret))
        return [returns[job.num] for job in jobs]

    def workers(self) -> int:
        """How many batches train at once (the batches are cut so that each has work)."""
        return self.n_jobs or os.cpu_count() or 1

    def memory(self) -> Optional[int]:  # noqa: UP045
        """The bytes the batches share (this machine's; None where unknown)."""
        from shallownet.validate import this_machines_memory

        return this_machines_memory()

    def where(self, workers: int) -> str:
        return f"in {workers} process(es)"

    def run_counted(
        self,
        configs: List[DictConfig],  # noqa: UP006
        workers: int,
        count: Tuple[int, int, float],  # noqa: UP006
    ) -> List[JobReturn]:  # noqa: UP006
        """:meth:`run`, each job's line saying how many of the jobs (``count``: in all,
        ended before, since when) have ended and about how long the rest will take (a
        count shared by the processes that run them)."""
        from shallownet import progress

        from .workers import start_method

        total, before, started = count
        ended = multiprocessing.get_context(start_method()).Value("i", before)
        progress.count_jobs(progress.SweepCount(total, ended, started))
        try:
            return self.run(configs, workers)
        finally:
            progress.count_jobs(None)

    def run(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        """Each batch's JobReturn: here, one after the other, or in worker processes."""
        if workers == 1:
            return [self._run_here(config) for config in configs]
        from .workers import run_in_workers

        def died(n: int, error: Exception) -> JobReturn:
            return _dead_batch(configs[n], error)

        return run_in_workers(self.payloads(configs), workers, died)

    def payloads(self, configs: List[DictConfig]) -> List[bytes]:  # noqa: UP006
        from .workers import payload

        assert self.hydra_context is not None
        assert self.task_function is not None
        return [payload(self.hydra_context, config, self.task_function) for config in configs]

    def batch_config(self, n: int, batch: Sequence[Any]) -> DictConfig:
        """The config ``run_job`` gets for a batch: Hydra's node, and the jobs in ``batch``."""
        from shallownet.job import Job

        assert self.config is not None
        config = copy.deepcopy(self.config)  # Hydra's node, typed, with its ${now:...} cache
        with open_dict(config):
            for key in [str(k) for k in config if k != "hydra"]:
                del config[key]
            config.batch = Job.to_json(batch)
            config.hydra.job.num = n
            config.hydra.job.id = f"batch_{n}"
            config.hydra.sweep.subdir = f"batches/{n}"
        return config

    def _run_here(self, config: DictConfig) -> JobReturn:
        assert self.hydra_context is not None
        assert self.task_function is not None
        assert self.config is not None
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _refused_return(overrides: Sequence[str], config: DictConfig, value: float) -> JobReturn:
    """What a sweeper gets for a trial refused before it started (``value``: as for a job
    that failed, :mod:`.search`)."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = value
    ret.hydra_cfg = config
    return ret


def _dead_batch(config: DictConfig, error: Any) -> JobReturn:
    """The return of a batch whose worker process died (``error``: a WorkerDied): its
    runs still RUNNING end FAILED saying so, each job failed (nan), the sweep goes on."""
    from shallownet.job import Job
    from shallownet.tracking.owner import end_runs_of_process

    jobs = Job.from_json(config.batch)
    reason = f"{error}; run the sweep again with tracking.skip_finished=true to retry"
    stores = {
        (job.settings.tracking.uri, job.settings.tracking.experiment)
        for job in jobs
        if job.settings.tracking is not None
    }
    for uri, experiment in sorted(stores):
        end_runs_of_process(uri, experiment, error.pid, reason)
    log.error(f"{len(jobs)} job(s) failed: {reason}")
    ret = JobReturn(overrides=[], status=JobStatus.COMPLETED, hydra_cfg=config)
    ret.return_value = [math.nan] * len(jobs)
    ret.task_name = str(config.hydra.job.name)
    return ret


def _job_files(job: Any) -> None:
    """A job's output folder with the ``.hydra/`` files Hydra's run_job would write."""
    hydra_dir = Path(job.output_dir) / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "config.yaml").write_text(job.config_yaml())
    (hydra_dir / "overrides.yaml").write_text(job.overrides_yaml())


def _job_returns(batch: Sequence[Any], ret: JobReturn) -> Dict[int, JobReturn]:  # noqa: UP006
    """One JobReturn per job from its batch's (whose return value lists the final costs,
    or is the exception that stopped the batch)."""
    # the value, or the exception the batch's task raised (each of its jobs did); read
    # as stored: Hydra's getter writes "Error executing job" before raising it
    values = ret._return_value
    out = {}
    for k, job in enumerate(batch):
        one = JobReturn(
            overrides=list(job.overrides),
            cfg=OmegaConf.create(job.config),
            hydra_cfg=ret.hydra_cfg,
            working_dir=job.output_dir,
            task_name=ret.task_name,
            status=ret.status,
        )
        one.return_value = values[k] if ret.status == JobStatus.COMPLETED else values
        out[job.num] = one
    return out
