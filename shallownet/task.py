"""One job's life: its description, its MLflow run, training, and the record it leaves.

    spec = JobSpec.from_hydra(cfg, hydra_cfg)      # validated settings + where the job sits
    tracked = open_run(spec)                       # None when tracking is off
    result = job.run(spec.settings, callbacks)     # or trained together with others (batched)
    return finish(spec, tracked, result)           # artifacts, status, summary line -> final cost

The sequential Hydra task (:func:`run_task`) and the batched launcher share
these steps, so both leave the same records.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from . import job
from .config import Settings, store_configs, validate
from .errors import RunFailed
from .plugin_modules import import_plugin_modules
from .progress import Progress
from .tracking.hydra_callback import PARENT_ENV
from .tracking.run import PARENT_TAG, TrackedRun, settings_params
from .tracking.skip import find_finished
from .tracking.store import prepare, ui_command

log = logging.getLogger("shallownet")


@dataclass(frozen=True)
class JobSpec:
    """A validated job and where it sits: its overrides, sweep position and output folder."""

    settings: Settings
    overrides: list[str]
    choices: dict[str, str]
    multirun: bool
    job_num: int
    output_dir: str
    launch_dir: Path
    config_yaml: str

    @property
    def label(self) -> str:
        """The run name: the job's overrides, e.g. ``init=zeros,activation=tanh,seed=0``."""
        return ",".join(self.overrides) or "defaults"

    @classmethod
    def from_hydra(cls, cfg: DictConfig, hydra_cfg: Any) -> JobSpec:
        """From a job's config (without its ``hydra`` node) and Hydra's node for the job."""
        launch = Path(hydra_cfg.runtime.cwd)
        output_dir = OmegaConf.select(hydra_cfg, "runtime.output_dir", default=None) or str(
            launch / hydra_cfg.sweep.dir / str(hydra_cfg.sweep.subdir)
        )
        return cls(
            settings=validate(cfg, launch),
            overrides=[str(o) for o in hydra_cfg.overrides.task],
            choices={str(k): str(v) for k, v in hydra_cfg.runtime.choices.items()},
            multirun=hydra_cfg.mode == RunMode.MULTIRUN,
            job_num=int(hydra_cfg.job.get("num") or 0),
            output_dir=str(output_dir),
            launch_dir=launch,
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        )

    def params(self) -> dict[str, str]:
        """The MLflow params: the flattened settings plus the Hydra options chosen."""
        return settings_params(
            self.settings,
            {
                "init_preset": self.choices.get("init"),
                "activation_preset": self.choices.get("activation"),
            },
        )


def config_hash(params: dict[str, str]) -> str:
    """Identifies a configuration across sweeps (used to skip finished ones)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache  # the same for every job of a sweep
def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def finished_cost(spec: JobSpec) -> tuple[str, float] | None:
    """With ``tracking.skip_finished``: the id and final cost of an earlier FINISHED run
    of this very configuration, if there is one."""
    tracking = spec.settings.tracking
    if tracking is None or not tracking.skip_finished:
        return None
    return find_finished(MlflowClient(tracking.uri), prepare(tracking), config_hash(spec.params()))


def skipped(spec: JobSpec, run_id: str, final_cost: float) -> float:
    """A job whose configuration already FINISHED: say so, return that run's final cost."""
    log.info("%s: skipped, already FINISHED as MLflow run %s", spec.label, run_id)
    return final_cost


def open_run(spec: JobSpec) -> TrackedRun | None:
    """Create the job's MLflow run (a child of the sweep's parent run in a multirun)."""
    tracking = spec.settings.tracking
    if tracking is None:
        return None
    params = spec.params()
    tags = {
        "shallownet.overrides": spec.label,
        "shallownet.config_hash": config_hash(params),
        "shallownet.output_dir": spec.output_dir,
    }
    parent = os.environ.get(PARENT_ENV)
    if spec.multirun and parent:
        tags[PARENT_TAG] = parent
        tags["shallownet.sweep_id"] = parent
        tags["shallownet.job_num"] = str(spec.job_num)
    commit = _git_commit(spec.launch_dir)
    if commit:
        tags["shallownet.git_commit"] = commit
    client = MlflowClient(tracking.uri)
    return TrackedRun(client, prepare(tracking), spec.settings, spec.label, tags, params)


def fail(spec: JobSpec, tracked: TrackedRun | None, exc: Exception) -> float:
    """A plugin or the data broke mid-run: record it; a sweep goes on, a single run stops."""
    reason = f"{type(exc).__name__}: {exc}"
    if tracked is not None:
        tracked.fail(reason)
    if not spec.multirun:
        msg = f"{spec.label}: run failed: {reason}"
        raise RunFailed(msg) from exc
    log.error("%s: FAILED: %s", spec.label, reason)
    return math.nan


def finish(spec: JobSpec, tracked: TrackedRun | None, result: job.JobResult) -> float:
    """Record artifacts and status, print the summary line; return the final cost."""
    status = result.status
    if tracked is not None:
        files = {"config.yaml": spec.config_yaml, "overrides.yaml": yaml.safe_dump(spec.overrides)}
        status = tracked.finish(result, files, spec.label)
    history = result.history
    text = f"{spec.label}: {status}, final cost {history.final_cost:.6f}"
    if status == "FINISHED":
        text += f", train accuracy {result.train_accuracy:.4f}"
        if result.test_accuracy is not None:
            text += f", test accuracy {result.test_accuracy:.4f}"
    else:
        text += f" ({history.failure_reason})"
    tracking = spec.settings.tracking
    if tracked is not None and tracking is not None:
        text += f"; MLflow run {tracked.run_id} in {tracking.uri}"
    log.info(text)
    if not spec.multirun and tracking is not None:
        log.info("  browse: %s", ui_command(tracking.uri))
    if status == "FAILED" and not spec.multirun:
        msg = f"{spec.label}: {history.failure_reason}"
        raise RunFailed(msg)
    return history.final_cost


def run_task(cfg: DictConfig) -> float:
    """The Hydra task: one job, trained on its own."""
    import_plugin_modules()  # worker processes of parallel launchers start here
    store_configs()
    spec = JobSpec.from_hydra(cfg, HydraConfig.get())
    data = job.load_data(spec.settings)
    done = finished_cost(spec)
    if done is not None:
        return skipped(spec, *done)
    tracked = open_run(spec)
    callbacks = [Progress(spec.label), *([tracked.metrics] if tracked is not None else [])]
    try:
        try:
            result = job.run(spec.settings, callbacks, data=data)
        except Exception as exc:
            return fail(spec, tracked, exc)
        return finish(spec, tracked, result)
    except KeyboardInterrupt:  # while training or while recording: the run ends KILLED
        if tracked is not None:
            tracked.kill()
        raise
