"""Sweeps: the jobs a multirun will launch, and validating all of them before the first.

Hydra's basic sweeper builds the job list from ``hydra.sweeper.params`` and the
command-line overrides; :func:`job_overrides` builds the same list, so a bad
value in job 37 of a sweep is reported before job 0 starts and before
anything (output directory, MLflow store) is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .config import validate
from .errors import ConfigError, abort_on_user_error


def job_overrides(config: DictConfig) -> list[list[str]]:
    """The override list of every job the basic sweeper will launch, in launch order."""
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    loader = GlobalHydra.instance().config_loader()
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    return BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]


# Jobs composed while validating a sweep, by their overrides: composing costs tens of
# milliseconds per job, so a launcher in this process reuses them (see composed()).
_composed: dict[tuple[str, ...], DictConfig] = {}


def job_configs(config: DictConfig) -> list[DictConfig]:
    """The composed config of every job of a multirun (what each job will receive)."""
    loader = GlobalHydra.instance().config_loader()
    configs = []
    for overrides in job_overrides(config):
        job = loader.load_sweep_config(config, overrides)
        _composed[tuple(overrides)] = job
        configs.append(job)
    return configs


def composed(overrides: list[str]) -> DictConfig | None:
    """A copy of the config composed for these overrides during validation, if any."""
    job = _composed.get(tuple(overrides))
    return None if job is None else job.copy()


def uses_basic_sweeper(config: DictConfig) -> bool:
    return str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper")


def launch_dir(config: DictConfig) -> Path:
    return Path(config.hydra.runtime.cwd)


def check_writable(key: str, folder: Path) -> None:
    """The output folder can be created: its first existing ancestor is a writable directory."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        msg = (
            f"{key}={str(folder)!r} is invalid: cannot create it ({str(existing)!r} is not a "
            f"writable directory); run from a writable directory or set {key}"
        )
        raise ConfigError(msg)


class ValidateAll(Callback):
    """Hydra callback: validate the run, or every job of a sweep, before anything starts."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with abort_on_user_error():
            check_writable("hydra.run.dir", launch_dir(config) / config.hydra.run.dir)
            validate(config, launch_dir(config))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not uses_basic_sweeper(config):
            return  # other sweepers choose jobs as they go: each job validates itself
        with abort_on_user_error():
            check_writable("hydra.sweep.dir", launch_dir(config) / config.hydra.sweep.dir)
            for job in job_configs(config):
                validate(job, launch_dir(config))
