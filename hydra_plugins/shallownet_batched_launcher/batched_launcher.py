"""``hydra/launcher=batched``: train the compatible jobs of a sweep as one computation.

Jobs whose networks have the same shapes, activation, data and iteration
count (they may differ in seed, initializer and learning rate) are stacked on
a leading batch axis and trained at once by :func:`shallownet.batch.train_batch`.
Everything else is as with Hydra's basic launcher: each job gets its own
output folder, ``.hydra/`` files, log, MLflow run (same params, metrics,
artifacts and status as when trained alone) and return value (its final cost).
A member that diverges fails alone. If a batch raises (a plugin that breaks,
say), its jobs are run again one by one, so only the faulty one fails.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this module
# in a way under which @dataclass cannot resolve postponed annotations.
import json
import logging
import math
import multiprocessing
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.shallownet_batched_launcher.batched_launcher.BatchedLauncher"
    max_batch: int = 64  # networks trained together at most
    # worker processes, each training one batch at a time and recording its jobs;
    # null: one per core (at most one per batch); 1: everything in this process
    n_jobs: int | None = None


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="shallownet"
)


@dataclass
class _Job:
    idx: int
    overrides: list[str]
    config: DictConfig  # the full job config, hydra node included
    spec: Any  # shallownet.task.JobSpec


def batch_key(settings: Any) -> str:
    """Jobs with equal keys can be trained together."""
    return json.dumps(
        [
            settings.data.name,
            settings.data.params,
            settings.test_samples,
            settings.test_seed,
            list(settings.hidden),
            settings.activation.name,
            settings.activation.params,
            settings.dtype,
            settings.iterations,
            settings.diagnostics_every,
        ],
        sort_keys=True,
        default=str,
    )


# shallownet is imported inside functions: Hydra imports this module whenever it scans
# for plugins, in any Hydra app of the environment.


def _finish_job(spec: Any, tracked: Any, result: Any, cfg: DictConfig) -> float:
    """The task function run_job calls for a job already trained in its batch."""
    from shallownet.task import finish

    return finish(spec, tracked, result)


def _skipped_job(spec: Any, done: tuple[str, float], cfg: DictConfig) -> float:
    """The task function run_job calls for a job whose configuration already FINISHED."""
    from shallownet.task import skipped

    return skipped(spec, *done)


def split(groups: list[list[_Job]], max_batch: int, workers: int) -> list[list[_Job]]:
    """Cut each group of compatible jobs into batches of at most ``max_batch``; with
    several workers, into at least one batch per worker, so that all of them work."""
    batches = []
    for group in groups:
        size = min(max_batch, math.ceil(len(group) / workers))
        batches += [group[start : start + size] for start in range(0, len(group), size)]
    return batches


def _execute_batch(payload: bytes) -> bytes:
    """In a worker process: train one batch and record its jobs (as the joblib launcher
    runs one job: Hydra's global state first, then the work).

    Payload and result travel cloudpickled: Hydra's global state holds OmegaConf
    resolvers defined inside functions, and the job returns hold config classes that
    the worker imported anew; the standard pickle can serialize neither.
    """
    from shallownet.plugin_modules import import_plugin_modules
    from shallownet.task import run_task

    import_plugin_modules()  # the user's plugins, named in SHALLOWNET_PLUGINS
    hydra_context, config, max_batch, batch, label, singleton_state = pickle.loads(payload)
    setup_globals()
    Singleton.set_state(singleton_state)
    launcher = BatchedLauncher(max_batch=max_batch, n_jobs=1)
    launcher.setup(hydra_context=hydra_context, task_function=run_task, config=config)
    return bytes(cloudpickle.dumps(launcher._run_batch(batch, label)))


class BatchedLauncher(Launcher):
    def __init__(self, max_batch: int = 64, n_jobs: int | None = None) -> None:
        self.max_batch = max_batch
        self.n_jobs = n_jobs
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def _compose(self, idx: int, overrides: Sequence[str]) -> _Job:
        from shallownet.sweep import composed
        from shallownet.task import JobSpec

        assert self.hydra_context is not None
        assert self.config is not None
        config = composed(list(overrides)) or self.hydra_context.config_loader.load_sweep_config(
            self.config, list(overrides)
        )
        with open_dict(config):
            config.hydra.job.id = idx
            config.hydra.job.num = idx
        task_cfg = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
        return _Job(idx, list(overrides), config, JobSpec.from_hydra(task_cfg, config.hydra))

    def _run_job(self, job: _Job, task_function: TaskFunction) -> JobReturn:
        assert self.hydra_context is not None
        assert self.config is not None
        log.info(f"\t#{job.idx} : {' '.join(filter_overrides(job.overrides))}")
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=task_function,
            config=job.config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from shallownet.config import store_configs
        from shallownet.plugin_modules import import_plugin_modules

        setup_globals()
        assert self.config is not None
        import_plugin_modules()
        store_configs()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [self._compose(initial_job_idx + i, o) for i, o in enumerate(job_overrides)]
        groups: dict[str, list[_Job]] = {}
        for job in jobs:
            groups.setdefault(batch_key(job.spec.settings), []).append(job)
        workers = self.n_jobs or os.cpu_count() or 1
        batches = split(list(groups.values()), self.max_batch, workers)
        workers = min(workers, len(batches))
        log.info(
            f"Launching {len(jobs)} jobs as {len(batches)} batch(es) of networks trained "
            f"together, in {workers} process(es)"
        )
        labels = [f"batch {n}/{len(batches)}" for n in range(1, len(batches) + 1)]
        returns: dict[int, JobReturn] = {}
        if workers == 1:
            for batch, label in zip(batches, labels, strict=True):
                returns.update(self._run_batch(batch, label))
        else:
            returns = self._run_in_workers(batches, labels, workers)
        return [returns[job.idx] for job in jobs]

    def _run_in_workers(
        self, batches: list[list[_Job]], labels: list[str], workers: int
    ) -> dict[int, JobReturn]:
        assert self.hydra_context is not None
        assert self.config is not None
        returns: dict[int, JobReturn] = {}
        state = Singleton.get_state()
        # spawn, not fork: this process may run threads (MLflow's), which fork does not copy
        context = multiprocessing.get_context("spawn")
        payloads = [
            cloudpickle.dumps(
                (self.hydra_context, self.config, self.max_batch, batch, label, state)
            )
            for batch, label in zip(batches, labels, strict=True)
        ]
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_execute_batch, payload) for payload in payloads]
            try:
                for future in as_completed(futures):
                    returns.update(pickle.loads(future.result()))
            except BaseException:  # Ctrl-C reaches the workers too; start no further batch
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return returns

    def _run_batch(self, batch: list[_Job], label: str) -> dict[int, JobReturn]:
        from shallownet import job as sn_job
        from shallownet.batch import train_batch
        from shallownet.progress import Progress
        from shallownet.task import finished_cost, open_run

        assert self.task_function is not None
        returns: dict[int, JobReturn] = {}
        todo = []
        for job in batch:
            done = finished_cost(job.spec)
            if done is None:
                todo.append(job)
            else:
                task = partial(_skipped_job, job.spec, done)
                returns[job.idx] = self._run_job(job, task)
        if not todo:
            return returns

        settings = [job.spec.settings for job in todo]
        data = sn_job.load_data(settings[0])
        nets = [sn_job.build_network(s, n_x=data.X.shape[0]) for s in settings]
        initials = [net.copy() for net in nets]
        tracked: list[Any] = []
        try:
            for job in todo:
                tracked.append(open_run(job.spec))
            callbacks: list[list[Any]] = [
                [sn_job.diagnostics(s, data), *([t.metrics] if t is not None else [])]
                for s, t in zip(settings, tracked, strict=True)
            ]
            callbacks[0].append(Progress(f"{label} ({len(todo)} networks)"))
            try:
                histories = train_batch(
                    nets,
                    data.X,
                    data.Y,
                    [s.learning_rate for s in settings],
                    settings[0].iterations,
                    callbacks,
                )
            except Exception as exc:  # a plugin broke: retry alone, so only the faulty job fails
                log.warning(
                    f"{label} raised {type(exc).__name__}: {exc}; running its jobs one by one"
                )
                for t in tracked:
                    if t is not None:
                        t.discard()
                for job in todo:
                    returns[job.idx] = self._run_job(job, self.task_function)
                return returns
            members = zip(todo, tracked, nets, initials, histories, strict=True)
            for job, t, net, initial, history in members:
                result = sn_job.result(net, initial, data, history)
                task = partial(_finish_job, job.spec, t, result)
                returns[job.idx] = self._run_job(job, task)
        except KeyboardInterrupt:  # every run of the batch not yet recorded ends KILLED
            for t in tracked:
                if t is not None:
                    t.kill()
            raise
        return returns
