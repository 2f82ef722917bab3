"""Validation: every job checked once, before anything is written.

One entry point for every path a job can take:

    validate(cfg, launch_dir)    a single run (the ValidateRun callback, before Hydra
                                 writes its folder), or a job Hydra's own launchers composed
    check(jobs)                  every job of a sweep at once: plugins, data, memory,
                                 each distinct configuration once
    check_writable, check_stores the folders and stores the jobs will write to

A bad value fails in one line naming the field, the value and what is allowed
(:class:`~shallownet.errors.ConfigError`) before any folder, store or run exists.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import settings
from .errors import ConfigError
from .job import Job
from .messages import abort_on_user_error
from .outcome import Data, data_key, load_data
from .schema import SWEEP_KEYS, Rule, int_at_least, is_int, one_of, optional
from .settings import Settings, check_plugins


def launch_dir(config: DictConfig) -> Path:
    return Path(config.hydra.runtime.cwd)


def check_path_lengths(key: str, folder: Path, fixed: Path | None = None) -> None:
    """Each folder name (below ``fixed``, which is checked separately) and the whole path
    fit the filesystem's limits (255 and 4,096 bytes on Linux)."""
    existing = _existing_ancestor(folder)
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
        path_max = os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    parts = folder.relative_to(fixed).parts if fixed is not None else folder.parts
    for part in parts:
        if len(os.fsencode(part)) > name_max:
            msg = (
                f"{key} is invalid: folder name {part[:40]!r}... is {len(os.fsencode(part))} "
                f"bytes, more than this filesystem allows ({name_max}); "
                + (
                    f"shorten the overrides or set {key}=${{hydra.job.num}}"
                    if key == "hydra.sweep.subdir"
                    else f"set a shorter {key}"
                )
            )
            raise ConfigError(msg)
    if len(os.fsencode(str(folder))) >= path_max:
        msg = (
            f"{key} is invalid: path {str(folder)[:40]!r}... is longer than this "
            f"filesystem allows ({path_max} bytes); use shorter folder names"
        )
        raise ConfigError(msg)


def check_writable(key: str, folder: Path) -> None:
    """The output folder can be created: its first existing ancestor is a writable directory."""
    check_path_lengths(key, folder)
    existing = _existing_ancestor(folder)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        msg = (
            f"{key}={str(folder)!r} is invalid: cannot create it ({str(existing)!r} is not a "
            f"writable directory); run from a writable directory or set {key}"
        )
        raise ConfigError(msg)


def _existing_ancestor(folder: Path) -> Path:
    """The folder, or its nearest ancestor that exists (a name too long does not exist)."""
    existing = folder
    while existing != existing.parent:
        try:
            if existing.exists():
                break
        except OSError:  # ENAMETOOLONG and the like
            pass
        existing = existing.parent
    return existing


def validate(
    cfg: DictConfig, launch_dir: Path, choices: Mapping[str, Any] | None = None
) -> Settings:
    """Check every field, the plugins, the data and the size of one composed config."""
    result = settings(cfg, launch_dir, choices)
    check([result])
    return result


def check(jobs: Sequence[Settings]) -> None:
    """Everything about these jobs that can fail before training, checked now, each
    distinct configuration once: the plugins, the data (with its test split) and
    whether a network of this size fits in this machine's memory."""
    check_plugins(jobs)
    loaded: dict[str, Data] = {}
    sized: set[tuple[str, tuple[int, ...], str]] = set()
    for job in jobs:
        key = data_key(job)
        if key not in loaded:
            try:
                loaded[key] = load_data(job)
            except (ValueError, TypeError, OSError) as exc:
                msg = f"data: {exc}"
                raise ConfigError(msg) from None
            except Exception as exc:  # a data plugin that raises is broken
                msg = f"data: plugin {job.data.name!r} raised {type(exc).__name__}: {exc}"
                raise ConfigError(msg) from None
        if (key, job.hidden, job.dtype) not in sized:
            sized.add((key, job.hidden, job.dtype))
            _check_memory(job, loaded[key])


def memory_needed(layers: Sequence[int], examples: int, dtype: str) -> int:
    """Bytes one network needs while training, about: Z, A and their gradients for every
    layer and example, and the parameters, their gradients and the initial copy."""
    units = sum(layers[1:])
    weights = sum(n * n_prev for n_prev, n in itertools.pairwise(layers))
    return (4 * units * examples + 3 * (weights + units)) * np.dtype(dtype).itemsize


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new process (Linux: MemAvailable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _check_memory(job: Settings, data: Data) -> None:
    examples = max(data.X.shape[1], 0 if data.X_test is None else data.X_test.shape[1])
    layers = [data.X.shape[0], *job.hidden, 1]
    need = memory_needed(layers, examples, job.dtype)
    have = available_memory()
    if have is not None and need > have:
        msg = (
            f"model.hidden={list(job.hidden)} is invalid: a network this size needs about "
            f"{_gib(need)} of memory on {examples} examples of {layers[0]} features "
            f"({job.dtype}); this machine has {_gib(have)} available; use fewer units"
        )
        raise ConfigError(msg)


def check_stores(jobs: Iterable[Settings]) -> None:
    """Every tracking store of these jobs can be used from here (each checked once)."""
    stores = {(job.tracking.uri, job.tracking.experiment) for job in jobs if job.tracking}
    if stores:
        from .tracking.store import check_reachable

        for uri, experiment in sorted(stores):
            check_reachable(uri, experiment)


def check_sweep(jobs: Sequence[Job], sweep_dir: Path) -> None:
    """Everything a sweep's jobs can be refused for, before the sweep writes anything."""
    check([job.settings for job in jobs])
    check_writable("hydra.sweep.dir", sweep_dir)
    for job in jobs:
        check_path_lengths("hydra.sweep.subdir", Path(job.output_dir), sweep_dir)
    check_stores(job.settings for job in jobs)


def job_from_hydra(cfg: DictConfig, hydra_cfg: Any, checked: bool) -> Job:
    """The job a Hydra launcher runs (its config without the ``hydra`` node); its fields are
    validated, and with ``checked=False`` its plugins, data and size too (a job that no
    shallownet sweeper or callback has checked before)."""
    launch = Path(hydra_cfg.runtime.cwd)
    job_settings = settings(cfg, launch, hydra_cfg.runtime.choices)
    if not checked:
        check([job_settings])
    # what the sweep set for its jobs (the parent run, the view) is not the user's override
    overrides = tuple(
        str(o) for o in hydra_cfg.overrides.task if str(o).partition("=")[0] not in SWEEP_KEYS
    )
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    return Job(
        settings=job_settings,
        label=job_settings.label(overrides),
        overrides=overrides,
        num=int(hydra_cfg.job.get("num") or 0),
        multirun=hydra_cfg.mode == RunMode.MULTIRUN,
        output_dir=str(hydra_cfg.runtime.output_dir),
        launch_dir=str(launch),
        config={str(key): value for key, value in plain.items()},
    )


def hydra_job(cfg: DictConfig) -> Job:
    """The job of the Hydra task now running. A single run was checked by
    :class:`ValidateRun`, a sweep's jobs by the sweep; a job of another sweeper is checked
    here (it then fails alone, with the reason on its run)."""
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.runtime.choices.get("hydra/sweeper")
    checked = hydra_cfg.mode == RunMode.RUN or sweeper == "shallownet"
    return job_from_hydra(cfg, hydra_cfg, checked)


class ValidateRun(Callback):
    """Hydra callback: validate a single run before Hydra creates its output folder.

    (A sweep is validated by the shallownet sweeper, before anything is written.)
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with abort_on_user_error():
            check_run(config)


def check_run(config: DictConfig) -> None:
    """Everything a single run can be refused for, before Hydra writes anything."""
    check_writable("hydra.run.dir", launch_dir(config) / config.hydra.run.dir)
    check_stores([validate(config, launch_dir(config))])


def _joblib_workers(v: Any) -> str | None:
    return None if is_int(v) and v != 0 else "must be an integer other than 0 (-1: every core)"


_QUEUE: dict[str, Rule] = {  # hydra_submitit_launcher's BaseQueueConf
    "timeout_min": int_at_least(1),
    "cpus_per_task": optional(int_at_least(1)),
    "gpus_per_node": optional(int_at_least(0)),
    "tasks_per_node": int_at_least(1),
    "mem_gb": optional(int_at_least(1)),
    "nodes": int_at_least(1),
}
# Parameters of Hydra's own launchers that they would refuse only once the sweep had
# written its folder, its store and its parent run: checked before (the batched launcher
# checks its own).
LAUNCHER_RULES: dict[str, dict[str, Rule]] = {
    "joblib": {
        "n_jobs": _joblib_workers,
        "backend": optional(one_of("loky", "multiprocessing", "threading")),
        "prefer": optional(one_of("processes", "threads")),
    },
    "submitit_local": _QUEUE,
    "submitit_slurm": {**_QUEUE, "array_parallelism": int_at_least(1)},
}


def check_launcher(choice: str, launcher: Mapping[str, Any]) -> None:
    """ConfigError for the first parameter of Hydra's launcher ``choice`` that it would
    refuse (``hydra.launcher.n_jobs=0`` under joblib)."""
    for key, rule in LAUNCHER_RULES.get(choice, {}).items():
        if key in launcher and (allowed := rule(launcher[key])) is not None:
            msg = f"hydra.launcher.{key}={launcher[key]!r} is invalid: {allowed}"
            raise ConfigError(msg)
