"""A small sweep recorded in process on a real SQLite store, shared by fast tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from shallownet.config import store_configs
from shallownet.job import Job
from shallownet.lifecycle import run
from shallownet.report.write import attach_report
from shallownet.settings import Settings
from shallownet.tracking.parent import parent_run
from shallownet.validate import validate


@dataclass(frozen=True)
class RecordedSweep:
    uri: str
    parent_id: str
    jobs: list[Job]
    costs: list[float]


def compose_settings(folder: Path, *overrides: str) -> Settings:
    """The validated settings the command line gives these overrides."""
    store_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    return validate(cfg, folder)


def record_sweep(folder: Path, *fixed: str) -> RecordedSweep:
    """init=zeros,large x seed=0,1 (30 steps), through the lifecycle every launcher uses;
    ``fixed``: overrides every job shares (e.g. a deeper network)."""
    uri = f"sqlite:///{folder}/mlflow.db"
    jobs: list[Job] = []
    for init in ("zeros", "large"):
        for seed in (0, 1):
            overrides = (f"init={init}", f"seed={seed}")
            settings = compose_settings(
                folder, *overrides, *fixed, "train.iterations=30", f"tracking.uri={uri}"
            )
            jobs.append(
                Job(
                    settings=settings,
                    label=",".join(overrides),
                    overrides=overrides,
                    num=len(jobs),
                    multirun=True,
                    output_dir=str(folder / str(len(jobs))),
                    launch_dir=str(folder),
                    config={"init": init, "seed": seed},
                )
            )
    tracking = jobs[0].settings.tracking
    assert tracking is not None
    axes = {"init": "zeros,large", "seed": "0,1"}
    name = "init=zeros,large seed=0,1"
    with parent_run(
        tracking, name, axes, str(folder), jobs, group_keys=["init"], report=attach_report
    ) as parent:
        jobs = [parent.adopt(job, figures=True) for job in jobs]  # every run's figures
        costs = run(jobs)  # trained together: same shapes, differing in init and seed
    return RecordedSweep(uri, parent.run_id, jobs, costs)
