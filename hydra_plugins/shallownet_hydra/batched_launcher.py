"""``hydra/launcher=batched``: the compatible jobs of a sweep trained as one computation.

Jobs whose settings records differ only in seed, initializer and learning rate
(equal ``Settings.batch_key()``) form a group. Each group goes to the real
task function, :func:`shallownet.lifecycle.task`, through Hydra's ``run_job``, as
Hydra's joblib launcher runs one job: the group's config lists its jobs
(``cfg.batch``: each job's validated settings record, run name and folder, as JSON), and
the task trains them stacked on a leading batch axis and records each one.

Every job still gets its own output folder with its ``.hydra/config.yaml`` and
``overrides.yaml``, its own MLflow run and its own return value (its final
cost); the group's folder (``batches/<n>``) holds the group's Hydra files and log.
Groups run in worker processes (``n_jobs``, default one per core), each set
up as Hydra's joblib launcher sets up a worker.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this module
# in a way under which @dataclass cannot resolve postponed annotations.
import contextlib
import copy
import functools
import logging
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence  # noqa: UP035

import cloudpickle
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.shallownet_hydra.batched_launcher.BatchedLauncher"
    max_batch: int = 64  # networks trained together at most
    # worker processes, each training one group at a time and recording its jobs;
    # null: one per core (at most one per group); 1: everything in this process
    n_jobs: Optional[int] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="shallownet"
)

# shallownet is imported inside functions: Hydra imports this module whenever it scans
# for plugins, in any Hydra app of the environment.


def split(groups: List[List[Any]], max_batch: int, workers: int) -> List[List[Any]]:  # noqa: UP006
    """Cut each group of compatible jobs into batches of at most ``max_batch``; with
    several workers, into at least one batch per worker, so that all of them work."""
    batches = []
    for group in groups:
        size = min(max_batch, math.ceil(len(group) / workers))
        batches += [group[start : start + size] for start in range(0, len(group), size)]
    return batches


def execute_group(
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: Dict[Any, Any],  # noqa: UP006
) -> JobReturn:
    """In a worker process: Hydra's global state, then ``run_job`` with the real task
    function (as ``hydra_plugins.hydra_joblib_launcher._core.execute_job``)."""
    from shallownet import interrupts

    interrupts.install()
    _die_with_parent()
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


@functools.cache  # once per worker process
def _die_with_parent(poll_seconds: float = 1.0, grace_seconds: float = 20.0) -> None:
    """When the launching process dies (even of kill -9), this worker stops as on SIGTERM,
    and exits at the latest ``grace_seconds`` later, instead of training on as an orphan."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="shallownet-orphan-watch", daemon=True).start()


def _execute_pickled(payload: bytes) -> bytes:
    """Payload and result travel cloudpickled: Hydra's global state holds OmegaConf
    resolvers defined inside functions, which the standard pickle cannot serialize."""
    try:
        return bytes(cloudpickle.dumps(execute_group(*pickle.loads(payload))))
    except KeyboardInterrupt as exc:
        # Stopped (Ctrl-C, SIGTERM, or the launching process died): this worker must not
        # take the next group from the queue. Its open runs are left to the parent run.
        from shallownet import interrupts

        os._exit(interrupts.exit_code(exc))


class BatchedLauncher(Launcher):
    def __init__(self, max_batch: int = 64, n_jobs: Optional[int] = None) -> None:  # noqa: UP045
        from shallownet.errors import ConfigError

        if not isinstance(max_batch, int) or max_batch < 1:
            msg = f"hydra.launcher.max_batch={max_batch!r} is invalid: must be a positive integer"
            raise ConfigError(msg)
        if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
            msg = (
                f"hydra.launcher.n_jobs={n_jobs!r} is invalid: must be a positive integer "
                f"or null (one worker per core)"
            )
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
        """For other sweepers: compose and validate these jobs, then launch them."""
        from shallownet.compose import Composer, compose_jobs

        assert self.config is not None
        assert self.hydra_context is not None
        composer = Composer(self.config, self.hydra_context.config_loader)
        return self.launch_jobs(compose_jobs(composer, job_overrides, initial_job_idx))

    def launch_jobs(self, jobs: Sequence[Any]) -> Sequence[JobReturn]:
        """Launch validated jobs (:class:`shallownet.job.Job`), in groups trained together."""
        assert self.config is not None
        assert self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        groups: Dict[str, List[Any]] = {}  # noqa: UP006
        for job in jobs:
            groups.setdefault(job.settings.batch_key(), []).append(job)
        workers = self._workers()
        batches = split(list(groups.values()), self.max_batch, workers)
        workers = min(workers, len(batches))
        log.info(
            f"Launching {len(jobs)} jobs as {len(batches)} batch(es) of networks trained "
            f"together, {self._where(workers)}"
        )
        configs = [self._group_config(n, batch) for n, batch in enumerate(batches)]
        for job in jobs:
            _job_files(job)
        group_returns = self._run(configs, workers)
        returns = {}
        for batch, ret in zip(batches, group_returns, strict=True):
            returns.update(_job_returns(batch, ret))
        return [returns[job.num] for job in jobs]

    def _workers(self) -> int:
        """How many groups train at once (the batches are cut so that each has work)."""
        return self.n_jobs or os.cpu_count() or 1

    def _where(self, workers: int) -> str:
        return f"in {workers} process(es)"

    def _run(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        if workers == 1:
            return [self._run_here(config) for config in configs]
        return self._run_in_workers(configs, workers)

    def _group_config(self, n: int, batch: Sequence[Any]) -> DictConfig:
        """The config ``run_job`` gets for a group: Hydra's node, and the jobs in ``batch``."""
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
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret

    def _run_in_workers(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        # spawn, not fork: this process may run threads (MLflow's), which fork does not copy
        context = multiprocessing.get_context("spawn")
        payloads = self._payloads(configs)
        returns: Dict[int, JobReturn] = {}  # noqa: UP006
        with (
            _blas_threads(workers),
            ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        ):
            futures = {pool.submit(_execute_pickled, p): n for n, p in enumerate(payloads)}
            try:
                for future in as_completed(futures):
                    returns[futures[future]] = pickle.loads(future.result())
            except BaseException:  # Ctrl-C, SIGTERM: stop the workers; start no further group
                _stop(list(getattr(pool, "_processes", {}).values()))
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return [returns[n] for n in range(len(configs))]

    def _payloads(self, configs: List[DictConfig]) -> List[bytes]:  # noqa: UP006
        """What a worker gets for each group: :func:`execute_group`'s arguments, pickled."""
        assert self.hydra_context is not None
        state = Singleton.get_state()
        return [
            cloudpickle.dumps((self.hydra_context, config, self.task_function, state))
            for config in configs
        ]


# The thread pools of numpy's BLAS (OpenBLAS, MKL) and of OpenMP, read when a process
# first loads them: set before the workers start, they take it at their import of numpy.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


@contextlib.contextmanager
def _blas_threads(processes: int) -> Iterator[None]:
    """The ``processes`` workers started inside this block share the cores: cores /
    processes BLAS threads each (unless the user set the variables). One process per
    core, each running its own thread pool of one thread per core, oversubscribes the
    cores, and OpenBLAS's spinning threads then slow small matrix products tenfold and
    more (see benchmarks/README.md)."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    for name, value in saved.items():
        if value is None:
            os.environ[name] = str(threads)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def _stop(processes: List[Any], grace_seconds: float = 30.0) -> None:  # noqa: UP006
    """SIGTERM each worker (each then ends as on Ctrl-C); SIGKILL any still alive after
    ``grace_seconds`` (its runs are then ended by the parent run, as vanished)."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + grace_seconds
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()


def _job_files(job: Any) -> None:
    """A job's output folder with the ``.hydra/`` files Hydra's run_job would write."""
    hydra_dir = Path(job.output_dir) / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "config.yaml").write_text(job.config_yaml())
    (hydra_dir / "overrides.yaml").write_text(job.overrides_yaml())


def _job_returns(batch: Sequence[Any], ret: JobReturn) -> Dict[int, JobReturn]:  # noqa: UP006
    """One JobReturn per job from its group's (whose return value lists the final costs)."""
    values = ret._return_value
    out = {}
    for k, job in enumerate(batch):
        value = values[k] if ret.status == JobStatus.COMPLETED else values
        out[job.num] = JobReturn(
            overrides=list(job.overrides),
            cfg=OmegaConf.create(job.config),
            hydra_cfg=ret.hydra_cfg,
            working_dir=job.output_dir,
            task_name=ret.task_name,
            status=ret.status,
            _return_value=value,
        )
    return out


class SubmititBatches(BatchedLauncher):
    """Hydra's submitit launcher (``hydra/launcher=submitit_slurm`` or ``submitit_local``),
    given groups instead of single jobs: each group of compatible jobs (at most
    ``max_batch`` networks) is one submitit job, which trains them together and records
    each, as a worker of the batched launcher does. The executor takes every parameter
    of the user's launcher config (partition, timeout_min, cpus_per_task, ...)."""

    def __init__(self, submitit: Any, max_batch: int = 64) -> None:
        super().__init__(max_batch=max_batch, n_jobs=1)
        self.submitit = submitit
        self.config = submitit.config
        self.hydra_context = submitit.hydra_context
        self.task_function = submitit.task_function

    def _workers(self) -> int:
        return 1  # a group is cut only by max_batch: the cluster runs the groups at once

    def _where(self, workers: int) -> str:
        return f"as submitit '{self.submitit._EXECUTOR}' jobs"

    def _run(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        # the executor, as hydra_submitit_launcher's BaseSubmititLauncher.launch builds it
        kind, params = self.submitit._EXECUTOR, dict(self.submitit.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{kind}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=kind, **init)
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in common else f"{kind}_{key}": value for key, value in params.items()}
        )
        # local jobs share this machine's cores; a cluster's have their own
        shared = _blas_threads(len(configs)) if kind == "local" else contextlib.nullcontext()
        with shared:
            submitted = executor.map_array(_execute_pickled, self._payloads(configs))
        return [pickle.loads(job.result()) for job in submitted]


def batching(launcher: Launcher) -> Launcher:
    """The launcher a shallownet sweep uses: Hydra's submitit launchers get groups of
    compatible jobs (:class:`SubmititBatches`); any other launcher is used as it is."""
    if type(launcher).__module__.startswith("hydra_plugins.hydra_submitit_launcher"):
        return SubmititBatches(launcher)
    return launcher
