"""A sweep: the jobs typed, composed once, validated once, before anything is written.

    shallownet -m init=zeros,small activation=tanh,relu seed=0,1     8 jobs, exactly

:func:`plan` expands the typed grid (``hydra.sweeper.params`` of a preset,
then the command line) as Hydra's basic sweeper does, and validates every
job. Composing a config costs tens of milliseconds, so Hydra composes each
distinct combination of config-group choices (``init=small``,
``experiment=symmetry``, ``hydra/launcher=...``) once; the value overrides of
each job (``seed=3``, ``init.scale=0.5``) are then applied to a copy of the
task part of that config, without composing again. A bad value in job 1,937
is reported in one line before job 0 starts, and before any folder, store or
run exists. The validated :class:`~shallownet.task.Job` objects then travel to
the launcher, the task and the tracking.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .config import Settings, record_key, settings_from, text
from .errors import ConfigError, abort_on_user_error
from .job import check as check_jobs
from .job import validate
from .task import Job


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


@dataclass(frozen=True)
class Axis:
    """One key of a sweep and its values as typed (``init``: ``zeros,small``)."""

    key: str
    typed: str
    values: list[str]  # one override per value: ["init=zeros", "init=small"]

    @property
    def swept(self) -> bool:
        return len(self.values) > 1


def axes(
    params: Mapping[str, str], arguments: Sequence[str], parser: OverridesParser
) -> list[Axis]:
    """The sweep's keys in order: a preset's ``hydra.sweeper.params``, then the command line
    (a key typed again replaces the preset's values)."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    found: dict[str, Axis] = {}
    for override in parser.parse_overrides(lines):
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                msg = (
                    f"{override.input_line!r} is invalid: the shallownet sweeper takes lists "
                    f"(a,b), range(...) and glob(...), not intervals; see shallownet --help"
                )
                raise ConfigError(msg)
            values = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            values = [f"{key}={override.get_value_element_as_str()}"]
        typed = str(override.input_line).partition("=")[2]
        found.pop(key, None)
        found[key] = Axis(key, typed, values)
    return list(found.values())


def grid(sweep_axes: Sequence[Axis]) -> list[list[str]]:
    """Every job's overrides: the product of the axes, in Hydra's order."""
    return [list(job) for job in itertools.product(*(axis.values for axis in sweep_axes))]


def override_dirname(overrides: Sequence[str], spec: Mapping[str, Any]) -> str:
    """``hydra.job.override_dirname`` as Hydra builds it from ``hydra.job.config.
    override_dirname`` (``spec``): sorted, excluded keys left out."""
    excluded = set(spec["exclude_keys"])
    lines = sorted(line for line in overrides if line.partition("=")[0] not in excluded)
    return re.sub("=", spec["kv_sep"], spec["item_sep"].join(lines))


@dataclass
class _Base:
    """One composition (a set of group choices) and what every job composed from it shares."""

    config: DictConfig  # the full config, ``hydra`` node included
    task: DictConfig  # its task part (struct, typed), where value overrides are checked
    plain: dict[str, Any]  # its task part, resolved, as plain containers
    interpolated: bool  # the task part interpolates: jobs need OmegaConf to resolve
    sweep_dir: str
    job_node: dict[str, Any]  # hydra.job, unresolved: for each job's subdir
    subdir: str  # hydra.sweep.subdir, unresolved


class Composer:
    """A job's config, cheaply: Hydra composes each set of group choices once; a value
    override (``seed=3``) is checked once by OmegaConf on a copy of its own subtree
    (so its conversion and messages are Hydra's), and jobs are assembled as plain data.
    """

    def __init__(self, master: DictConfig, loader: ConfigLoader) -> None:
        self.master = master
        self.loader = loader
        self.parser = OverridesParser.create(config_loader=loader)
        self.groups = set(loader.list_groups(""))
        self._parsed: dict[str, Override] = {}
        self._bases: dict[tuple[str, ...], _Base] = {}
        self._values: dict[tuple[tuple[str, ...], str], Any] = {}

    def _parse(self, line: str) -> Override:
        if line not in self._parsed:
            (self._parsed[line],) = self.parser.parse_overrides([line])
        return self._parsed[line]

    def _is_value(self, override: Override) -> bool:
        """A plain ``key=value`` of the task config (not a group, not +, ++ or ~)."""
        key = override.key_or_group
        return (
            override.type == OverrideType.CHANGE  # no +, ++ or ~ prefix
            and override.package is None
            and key not in self.groups
            and "/" not in key
            and not override.is_hydra_override()
        )

    def split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[Override]]:
        """(the overrides Hydra must compose, the value overrides applied afterwards)."""
        parsed = [self._parse(line) for line in overrides]
        is_value = [self._is_value(o) for o in parsed]
        values = [o for o, value in zip(parsed, is_value, strict=True) if value]
        composed = tuple(
            line for line, value in zip(overrides, is_value, strict=True) if not value
        )
        return composed, values

    def base(self, key: tuple[str, ...]) -> _Base:
        if key not in self._bases:
            config = self.loader.load_sweep_config(self.master, list(key))
            task = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
            OmegaConf.set_struct(task, True)
            unresolved = OmegaConf.to_container(task, resolve=False)
            plain = OmegaConf.to_container(task, resolve=True)
            assert isinstance(plain, dict)
            job_node = OmegaConf.to_container(config.hydra.job, resolve=False)
            sweep_node = OmegaConf.to_container(config.hydra.sweep, resolve=False)
            assert isinstance(job_node, dict)
            assert isinstance(sweep_node, dict)
            self._bases[key] = _Base(
                config=config,
                task=task,
                plain={str(k): v for k, v in plain.items()},
                interpolated="${" in str(unresolved),
                sweep_dir=str(config.hydra.sweep.dir),
                job_node={str(k): v for k, v in job_node.items()},
                subdir=str(sweep_node["subdir"]),
            )
        return self._bases[key]

    def _value(self, key: tuple[str, ...], override: Override) -> Any:
        """The value an override sets, converted and checked by OmegaConf (once per line)."""
        cache_key = (key, str(override.input_line))
        if cache_key not in self._values:
            base = self.base(key)
            path = override.key_or_group
            top = path.partition(".")[0]
            node = (
                OmegaConf.masked_copy(base.task, [top]) if top in base.task else base.task.copy()
            )
            OmegaConf.set_struct(node, True)
            apply(node, override)
            value = OmegaConf.select(node, path)
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=True)
            self._values[cache_key] = value
        return self._values[cache_key]

    def task(self, overrides: Sequence[str]) -> tuple[dict[str, Any], _Base]:
        """The job's task config with its value overrides applied, as plain data; its base."""
        key, values = self.split(overrides)
        base = self.base(key)
        if base.interpolated:  # let OmegaConf resolve what the overrides change
            task = base.task.copy()
            for override in values:
                apply(task, override)
            plain = OmegaConf.to_container(task, resolve=True)
            assert isinstance(plain, dict)
            return {str(k): v for k, v in plain.items()}, base
        job = copy.deepcopy(base.plain)
        for override in values:
            *parents, leaf = override.key_or_group.split(".")
            node = job
            for part in parents:
                node = node[part]
            node[leaf] = copy.deepcopy(self._value(key, override))
        return job, base

    def output_dir(self, base: _Base, num: int, overrides: Sequence[str]) -> Path:
        """The job's folder: ``hydra.sweep.dir`` / ``hydra.sweep.subdir`` resolved for it."""
        job_node = {
            **base.job_node,
            "num": num,
            "id": f"{base.job_node.get('name')}_{num}",
            "override_dirname": override_dirname(
                overrides, base.job_node["config"]["override_dirname"]
            ),
        }
        references = re.findall(r"\$\{([^}]*)\}", base.subdir)
        if all(ref.startswith("hydra.job.") for ref in references):  # the usual case: direct
            subdir = re.sub(
                r"\$\{hydra\.job\.([^}]*)\}", lambda m: str(job_node[m[1]]), base.subdir
            )
        else:  # the subdir reads more of Hydra's node: let OmegaConf resolve it
            full = base.config.copy()
            with open_dict(full):
                full.hydra.job.update(job_node)
            subdir = str(full.hydra.sweep.subdir)
        return launch_dir(self.master) / base.sweep_dir / subdir


def apply(cfg: DictConfig, override: Override) -> None:
    """Set ``key=value`` in a composed config, with Hydra's checks and messages."""
    try:
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    except OmegaConfBaseException as exc:
        msg = f"Error merging override {override.input_line}"
        raise ConfigError(msg) from exc


def plan(
    master: DictConfig,
    loader: ConfigLoader,
    params: Mapping[str, str],
    arguments: Sequence[str],
) -> tuple[list[Axis], list[Job]]:
    """The sweep's axes and its validated jobs, or ConfigError for the first bad one."""
    composer = Composer(master, loader)
    sweep_axes = axes(params, arguments, composer.parser)
    return sweep_axes, jobs(composer, grid(sweep_axes))


def jobs(
    composer: Composer, job_overrides: Sequence[Sequence[str]], first_num: int = 0
) -> list[Job]:
    """Every job of these overrides, composed and validated; ConfigError for the first bad one."""
    launch = launch_dir(composer.master)
    found = []
    for num, overrides in enumerate(job_overrides, start=first_num):
        task, base = composer.task(overrides)
        job_settings = settings_from(task, launch, base.config.hydra.runtime.choices)
        found.append(
            Job(
                settings=job_settings,
                label=job_settings.label(overrides),
                overrides=tuple(overrides),
                num=num,
                multirun=True,
                output_dir=str(composer.output_dir(base, num, overrides)),
                launch_dir=str(launch),
                config=task,
            )
        )
    check_jobs([job.settings for job in found])
    sweep_dir = launch / str(composer.master.hydra.sweep.dir)
    check_writable("hydra.sweep.dir", sweep_dir)
    for job in found:
        check_path_lengths("hydra.sweep.subdir", Path(job.output_dir), sweep_dir)
    check_stores(job.settings for job in found)
    return found


def check_stores(jobs: Iterable[Settings]) -> None:
    """Every tracking store of these jobs can be used from here (each checked once)."""
    uris = {job.tracking.uri for job in jobs if job.tracking is not None}
    if uris:
        from .tracking.store import check_reachable

        for uri in sorted(uris):
            check_reachable(uri)


def sweep_name(sweep_axes: Sequence[Axis]) -> str:
    """The parent run's name: the axes actually swept (``init=zeros,small seed=range(3)``),
    after the preset, if one was chosen."""
    preset = [axis.values[0].partition("=")[2] for axis in sweep_axes if axis.key == "experiment"]
    swept = " ".join(f"{axis.key}={axis.typed}" for axis in sweep_axes if axis.swept)
    return ": ".join([*preset, swept or "one job"])


def group_keys(sweep_axes: Sequence[Axis], planned: Sequence[Job]) -> list[str]:
    """The keys a sweep's runs are compared by: those swept, as recorded, except the seed
    (runs that differ only in their seed are repeats of one configuration)."""
    keys = dict.fromkeys(record_key(axis.key) for axis in sweep_axes if axis.swept)
    return [
        key
        for key in keys
        if key != "seed"
        and key in planned[0].settings.record
        and len({text(job.settings.record[key]) for job in planned}) > 1
    ]


def run_sweep(
    master: DictConfig,
    hydra_context: HydraContext,
    launcher: Launcher,
    params: Mapping[str, str],
    arguments: Sequence[str],
) -> list[Sequence[JobReturn]]:
    """Validate every job, then (and only then) write: the sweep folder, the store, the
    parent run; launch the jobs; end the parent run with the sweep's true status."""
    sweep_axes, planned = plan(master, hydra_context.config_loader, params, arguments)
    sweep_dir = launch_dir(master) / str(master.hydra.sweep.dir)
    tracking = planned[0].settings.tracking
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(master, sweep_dir / "multirun.yaml")
    parent: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if tracking is not None:
        from .tracking.sweep import parent_run

        tags = {"shallownet.sweep_dir": str(sweep_dir)}
        typed = {axis.key: axis.typed for axis in sweep_axes}
        grouped = group_keys(sweep_axes, planned)
        parent = parent_run(tracking, sweep_name(sweep_axes), typed, tags, planned, grouped)
    with parent:
        if isinstance(launcher, JobLauncher):
            returns = launcher.launch_jobs(planned)
        else:  # Hydra's own launchers compose each job again from its overrides
            returns = launcher.launch([list(job.overrides) for job in planned], initial_job_idx=0)
        for ret in returns:
            _ = ret.return_value  # a job whose task raised stops the sweep here
    return [returns]


@runtime_checkable
class JobLauncher(Protocol):
    """A launcher that takes validated jobs (shallownet's batched launcher)."""

    def launch_jobs(self, jobs: Sequence[Job]) -> Sequence[JobReturn]: ...


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
