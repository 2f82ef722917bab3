"""Composition: a job from its overrides, cheaply, as Hydra would compose it.

Composing a config costs tens of milliseconds, so Hydra composes each distinct
combination of config-group choices (``init=small``, ``experiment=symmetry``,
``hydra/launcher=...``) once; the value overrides of each job (``seed=3``,
``init.scale=0.5``) are then applied to a copy of the task part of that config,
without composing again. :func:`compose_jobs` makes validated
:class:`~shallownet.job.Job` objects: the plan of a shallownet sweep, and the jobs
another sweeper (Optuna's, say) hands the batched launcher.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from .config import unresolvable
from .errors import ConfigError
from .job import Job
from .settings import settings_from
from .validate import check_sweep, launch_dir


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
            assert isinstance(job_node, dict)
            # how folder names are made is settled (exclude_keys reads the schema)
            job_node["config"] = OmegaConf.to_container(config.hydra.job.config, resolve=True)
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


def compose_jobs(
    composer: Composer,
    job_overrides: Sequence[Sequence[str]],
    first_num: int = 0,
    stores: bool = True,
) -> list[Job]:
    """Every job of these overrides, composed and validated; ConfigError for the first bad
    one (``stores=False``: their stores are not checked again, :func:`check_sweep`)."""
    launch = launch_dir(composer.master)
    found = []
    for num, overrides in enumerate(job_overrides, start=first_num):
        try:
            task, base = composer.task(overrides)
        except InterpolationResolutionError as exc:  # seed=${nope}
            raise unresolvable(exc) from None
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
    return check_sweep(found, launch / str(composer.master.hydra.sweep.dir), stores)
