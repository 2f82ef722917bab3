"""The job lifecycle (shallownet.lifecycle.run): jobs trained together, each failing alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import shallownet as sn
from shallownet.config import store_configs
from shallownet.errors import RunFailed
from shallownet.job import Job
from shallownet.lifecycle import run
from shallownet.network import Array

from .recorded import compose_settings


def _job(folder: Path, num: int, *overrides: str) -> Job:
    settings = compose_settings(folder, *overrides, "train.iterations=50", "tracking=none")
    return Job(settings, ",".join(overrides), overrides, num, True, str(folder), str(folder), {})


def test_jobs_trained_together_get_the_numbers_trained_alone(tmp_path: Path) -> None:
    overrides = [("init=small", "seed=0"), ("init=large", "seed=1"), ("init=zeros", "seed=2")]
    together = run([_job(tmp_path, n, *o) for n, o in enumerate(overrides)])
    alone = [run([_job(tmp_path, 0, *o)])[0] for o in overrides]
    assert together == alone  # bit for bit
    assert together[2] == pytest.approx(math.log(2), abs=1e-12)  # zeros + tanh


def test_a_plugin_that_raises_while_building_fails_its_job_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @sn.initializers.register("fragile")
    def fragile(shape: tuple[int, int], rng: np.random.Generator, scale: float = 1.0) -> Array:
        if scale > 5 and shape == (5, 2):  # passes the registry's checks, breaks in use
            msg = f"scale {scale} is too much for me"
            raise RuntimeError(msg)
        return rng.standard_normal(shape) * scale

    store_configs()
    jobs = [
        _job(tmp_path, n, "init=fragile", f"init.scale={scale}", "model.hidden=[5]")
        for n, scale in enumerate([0.5, 1.0, 9.0])
    ]
    costs = run(jobs)
    assert math.isfinite(costs[0])
    assert math.isfinite(costs[1])
    assert math.isnan(costs[2])
    assert (
        "init.scale=9.0,model.hidden=[5]: FAILED: RuntimeError: scale 9.0 is too much for me"
        in caplog.text
    )


def test_a_plugin_that_raises_while_training_fails_its_job_alone(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    plugin_module: Callable[[str], ModuleType],
) -> None:
    plugin_module(str(Path(__file__).parent / "faulty_plugins.py"))
    store_configs()
    jobs = [
        _job(tmp_path, n, "activation=faulty", f"init={init}", "train.learning_rate=0.01")
        for n, init in enumerate(["small", "large", "small"])
    ]
    costs = run(jobs)
    assert math.isnan(costs[1])  # randn * 1 weights reach |z| > 5
    assert math.isfinite(costs[0])
    assert costs[0] == costs[2]  # the same configuration, trained again alone
    assert "training its jobs one by one" in caplog.text
    assert "FAILED: RuntimeError: faulty activation: |z| grew past 5" in caplog.text


def test_a_single_run_that_fails_says_why(tmp_path: Path) -> None:
    job = _job(tmp_path, 0, "train.learning_rate=1e9", "activation=relu", "init=large")
    job = Job(job.settings, job.label, job.overrides, 0, False, str(tmp_path), str(tmp_path), {})
    with pytest.raises(RunFailed, match=r"diverged at step \d+: cost is"):
        run([job])
