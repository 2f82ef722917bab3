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

from . import interrupts
from .config import settings
from .diagnostics import PAIR_BLOCK
from .errors import ConfigError
from .job import Job
from .messages import abort_on_user_error
from .outcome import Data, data_key, load_data
from .schema import SWEEP_KEYS, Rule, int_at_least, is_int, one_of, optional
from .settings import Settings, check_plugins
from .sweep_folder import can_create_in


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
    if not existing.is_dir() or not can_create_in(existing):
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


def check(jobs: Sequence[Settings]) -> list[tuple[int, int]]:
    """Everything about these jobs that can fail before training, checked now, each
    distinct configuration once: the plugins, the data (with its test split) and
    whether a network of this size fits in the memory this process has. Returns, for
    each job, the bytes one of its networks needs while it trains and those its batch
    needs once (:func:`memory_needed`, :func:`pairs_bound`), for sizing batches."""
    # plugin code runs here, in the launching process: each call under plugin_faults
    check_plugins(jobs, interrupts.plugin_faults)
    loaded: dict[str, Data] = {}
    sized: dict[tuple[str, ...], tuple[int, int]] = {}
    have = memory_room()
    needs = []
    for job in jobs:
        key = data_key(job)
        if key not in loaded:
            _check_data_size(job, have)
            try:
                with interrupts.plugin_faults():
                    loaded[key] = load_data(job)
            except (ValueError, TypeError, OSError) as exc:
                msg = f"data: {exc}"
                raise ConfigError(msg) from None
            except Exception as exc:  # a data plugin that raises is broken
                msg = f"data: plugin {job.data.name!r} raised {type(exc).__name__}: {exc}"
                raise ConfigError(msg) from None
        size = (key, str(job.hidden), job.dtype, str(job.iterations), str(job.diagnostics_every))
        if size not in sized:
            sized[size] = _check_memory(job, loaded[key], have)
        needs.append(sized[size])
    return needs


# Bytes a diagnostics record keeps per metric (a dict entry and its number), and those a
# training loop allocates whatever its size (measured with tracemalloc, after a first run)
RECORD_BYTES = 100
LOOP_BYTES = 2**17
# The share of the memory left that training may plan to take: the rest is for what the
# command loads after it is checked (MLflow, the store) and the page cache its writes
# fill, which a cgroup's limit counts too (measured: a sweep planned to the last byte of
# a 1,000 MiB cgroup was killed)
USABLE = 0.8


def memory_needed(
    layers: Sequence[int],
    examples: tuple[int, int],
    dtype: str,
    iterations: int,
    diagnostics_every: int,
) -> tuple[int, int]:
    """Bytes one network needs while it trains, about, as (its arrays, its history).

    Its arrays: five of (units, examples) for the training examples (Z, A, their
    gradients, a diagnostic's) and two for the test examples (the diagnostics' forward
    pass); the parameters four times (them, their gradients, the initial copy, an
    update). Its history: the cost at every step and the diagnostics every
    ``diagnostics_every`` steps. A batch adds its data and the symmetry diagnostic's
    block of unit pairs (:func:`pairs_memory`) once. ``tests/test_memory.py`` holds the
    sum within 2x of the peak measured while networks of many shapes train, alone and
    stacked."""
    itemsize = np.dtype(dtype).itemsize
    train, test = examples
    units = sum(layers[1:])
    weights = sum(n * n_prev for n_prev, n in itertools.pairwise(layers))
    arrays = (units * (5 * train + 2 * test) + 4 * (weights + units)) * itemsize
    metrics = 4 + len(layers) + 10 * (len(layers) - 2)
    records = (iterations // diagnostics_every + 1) * metrics * RECORD_BYTES
    return arrays, 8 * iterations + records


def pairs_memory(layers: Sequence[int], dtype: str, networks: int) -> int:
    """Bytes of the symmetry diagnostic's block of unit pairs (the differences, their
    squares, the distances) when ``networks`` networks of these layers train together:
    :data:`~shallownet.diagnostics.PAIR_BLOCK` numbers, or one unit's differences with
    the others in every network where that is more, or all pairs where that is less.
    At most ``once + networks * per_network`` of :func:`pairs_bound`."""
    rows = [(n * (p + 1 + q), n) for p, n, q in _triples(layers)]
    block = max((min(max(PAIR_BLOCK, networks * r), networks * r * n) for r, n in rows), default=0)
    return 3 * block * np.dtype(dtype).itemsize


def pairs_bound(layers: Sequence[int], dtype: str) -> tuple[int, int]:
    """A bound of :func:`pairs_memory` linear in the networks trained together, as
    (bytes per network: one unit's differences with the others; bytes once: the block)."""
    row = max((n * (p + 1 + q) for p, n, q in _triples(layers)), default=0)
    itemsize = np.dtype(dtype).itemsize
    return 3 * row * itemsize, 3 * PAIR_BLOCK * itemsize


def _triples(layers: Sequence[int]) -> Iterable[tuple[int, int, int]]:
    """(units before, units, units after) of each hidden layer."""
    return zip(layers, layers[1:-1], layers[2:], strict=False)


def memory_room() -> tuple[int, str] | None:
    """Bytes of memory this process can still take, and what says so: the machine's
    available memory (Linux: MemAvailable), or less where its memory cgroup (a
    container's, a Slurm job's) sets a limit (v2: ``memory.max`` less
    ``memory.current``; v1: ``limit_in_bytes`` less ``usage_in_bytes``)."""
    machine, cgroup = _meminfo_available(), _cgroup_room()
    if cgroup is not None and (machine is None or cgroup < machine):
        return cgroup, "this process's memory cgroup (a container's or a job's limit) leaves"
    return None if machine is None else (machine, "this machine has")


def _meminfo_available() -> int | None:
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


CGROUP_ROOT = Path("/sys/fs/cgroup")
# (the files of a limit and of the usage) in cgroup v2 and v1's memory controller
CGROUP_FILES = (
    ("memory.max", "memory.current"),
    ("memory.limit_in_bytes", "memory.usage_in_bytes"),
)


def _cgroup_room(root: Path = CGROUP_ROOT) -> int | None:
    """The least room any memory cgroup of this process leaves (from its own cgroup up
    to the root), or None where none sets a limit."""
    rooms = []
    for folder in _cgroup_folders(root):
        for limit_file, usage_file in CGROUP_FILES:
            try:
                limit = (folder / limit_file).read_text().strip()
                usage = int((folder / usage_file).read_text())
            except (OSError, ValueError):
                continue
            if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's huge "no limit"
                rooms.append(max(int(limit) - usage, 0))
    return min(rooms) if rooms else None


def _cgroup_folders(root: Path) -> list[Path]:
    """This process's memory cgroup folders (v2's unified one, v1's memory controller's)
    and each of their ancestors below ``root``."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    folders = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base = root
        elif "memory" in controllers.split(","):
            base = root / "memory"
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            folders.append(folder)
            if folder == base:
                break
            folder = folder.parent
    return folders


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _data_bytes(data: Data) -> int:
    arrays = (data.X, data.Y, data.X_test, data.Y_test)
    return sum(a.nbytes for a in arrays if a is not None)


# A data set drawn by size (``n_samples``) peaks, while it is generated, at this many
# times the floats it keeps (measured for the built-in ones with tracemalloc: 2.0 for xor
# to 3.7 for circles)
GENERATION_FACTOR = 4


def _check_data_size(job: Settings, have: tuple[int, str] | None) -> None:
    """Refuse a data set drawn by size that could not be generated in the memory this
    process has, before generating it (which may take minutes, and be killed): from what
    it keeps, ``n_samples`` (and the test set's) columns of ``n_features`` (2 unless the
    data set takes that parameter) and a label."""
    n = job.data.params.get("n_samples")
    features = job.data.params.get("n_features", 2)
    if have is None or not (isinstance(n, int) and isinstance(features, int)):
        return  # no such parameter (a CSV), or one the data set itself refuses
    need = (n + job.test_samples) * (features + 1) * 8 * GENERATION_FACTOR
    if need <= USABLE * have[0]:
        return
    msg = (
        f"data.n_samples={n} is invalid: generating a data set that large takes about "
        f"{_gib(need)} of memory; {have[1]} {_gib(have[0])} available, of which training "
        f"may take {USABLE:.0%}; use fewer samples"
    )
    raise ConfigError(msg)


def _check_memory(job: Settings, data: Data, have: tuple[int, str] | None) -> tuple[int, int]:
    """The bytes one network of this job needs, and those its batch needs once, bounds
    for sizing batches; ConfigError where one network alone does not fit."""
    test = 0 if data.X_test is None else data.X_test.shape[1]
    layers = [data.X.shape[0], *job.hidden, 1]
    arrays, history = memory_needed(
        layers, (data.X.shape[1], test), job.dtype, job.iterations, job.diagnostics_every
    )
    once = _data_bytes(data) + LOOP_BYTES
    need = arrays + history + once + pairs_memory(layers, job.dtype, 1)
    if have is None or need <= USABLE * have[0]:
        per_network, block = pairs_bound(layers, job.dtype)
        return arrays + history + per_network, once + block
    room = f"{have[1]} {_gib(have[0])} available, of which training may take {USABLE:.0%}"
    if history > arrays:
        msg = (
            f"train.iterations={job.iterations} is invalid: recording that many steps "
            f"(the cost at every step, the diagnostics every {job.diagnostics_every}) needs "
            f"about {_gib(need)} of memory; {room}; use fewer iterations or raise "
            "train.diagnostics_every"
        )
    else:
        msg = (
            f"model.hidden={list(job.hidden)} is invalid: a network this size needs about "
            f"{_gib(need)} of memory on {data.X.shape[1]} examples of {layers[0]} features "
            f"({job.dtype}); {room}; use fewer units or examples"
        )
    raise ConfigError(msg)


# Bytes a sweep's plan keeps per job: measured 4.3 KB composed and validated (4.9 KB at
# its peak); the grid's overrides and the launcher's records of each job come on top
PLANNED_JOB_BYTES = 8 * 1024


def check_grid(jobs: int, largest: str) -> None:
    """A sweep of ``jobs`` jobs (``largest``: its longest axis as typed) can be planned in
    the memory this process has; ConfigError in one line before any job is listed."""
    have = memory_room()
    if have is None or jobs * PLANNED_JOB_BYTES <= USABLE * have[0]:
        return
    most = int(USABLE * have[0] // PLANNED_JOB_BYTES)
    msg = (
        f"{largest} is invalid: it makes a sweep of {jobs:,} jobs, which needs about "
        f"{_gib(jobs * PLANNED_JOB_BYTES)} of memory to plan; {have[1]} {_gib(have[0])} "
        f"available, room for about {most:,} jobs; sweep fewer values or split the sweep "
        "into several commands"
    )
    raise ConfigError(msg)


def this_machines_memory() -> int | None:
    """The bytes this process can still take (:func:`memory_room`), None if unknown."""
    room = memory_room()
    return None if room is None else room[0]


def networks_per_batch(
    network_bytes: int, batch_bytes: int, workers: int, memory: int | None
) -> int:
    """How many networks of ``network_bytes`` each a batch (needing ``batch_bytes`` once)
    can train together while ``workers`` batches share ``memory`` bytes (None: unknown,
    no bound); at least one (a network that fits alone was checked by :func:`check`)."""
    if memory is None or network_bytes <= 0:
        return 2**31
    return max(1, int((USABLE * memory / max(workers, 1) - batch_bytes) // network_bytes))


def check_stores(jobs: Iterable[Settings]) -> None:
    """Every tracking store of these jobs can be used from here (each checked once)."""
    stores = {(job.tracking.uri, job.tracking.experiment) for job in jobs if job.tracking}
    if stores:
        from .tracking.store import check_reachable

        for uri, experiment in sorted(stores):
            check_reachable(uri, experiment)


def check_sweep(jobs: Sequence[Job], sweep_dir: Path, stores: bool = True) -> list[Job]:
    """Everything a sweep's jobs can be refused for, before the sweep writes anything;
    the jobs with the memory they need (for the launcher to size its batches). With
    ``stores=False`` their stores are not checked again (a search's later trials, whose
    store its first batch checked and holds open)."""
    needs = check([job.settings for job in jobs])
    check_writable("hydra.sweep.dir", sweep_dir)
    check_job_folders(jobs, sweep_dir)
    if stores:
        check_stores(job.settings for job in jobs)
    return [job.with_memory(*need) for job, need in zip(jobs, needs, strict=True)]


SUBDIR = "hydra.sweep.subdir"
EACH_ITS_OWN = "like ${hydra.job.num}_${hydra.job.override_dirname}"


def check_job_folders(jobs: Sequence[Job], sweep_dir: Path) -> None:
    """Each job's folder (``hydra.sweep.subdir``) lies inside the sweep's, is its own, and
    its names fit the filesystem."""
    first: dict[Path, int] = {}
    top = Path(os.path.normpath(sweep_dir))
    for job in jobs:
        folder = Path(os.path.normpath(job.output_dir))
        if top not in folder.parents:
            msg = (
                f"{SUBDIR} is invalid: it puts job {job.num}'s folder at {str(folder)!r}, "
                f"outside hydra.sweep.dir; give a relative path inside it, {EACH_ITS_OWN}"
            )
            raise ConfigError(msg)
        if folder in first:
            msg = (
                f"{SUBDIR} is invalid: jobs {first[folder]} and {job.num} would share the "
                f"folder {str(folder)!r}; make it differ per job, {EACH_ITS_OWN}"
            )
            raise ConfigError(msg)
        first[folder] = job.num
        check_path_lengths(SUBDIR, folder, sweep_dir)


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
