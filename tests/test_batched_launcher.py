"""The batched launcher leaves the same records as Hydra's basic launcher."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from .cli_helpers import REPO, run_cli
from .store_helpers import artifact_paths, parents_and_children

SWEEP = (
    "-m",
    "init=zeros,small,large",
    "activation=tanh,relu",
    "seed=0,1",
    "train.learning_rate=1.2,1e6",
    "train.iterations=150",
)

pytestmark = pytest.mark.slow  # real sweeps, servers or browsers


def _children(uri: str) -> dict[str, Run]:
    """Child runs by name."""
    _, children = parents_and_children(uri)
    return {r.info.run_name: r for r in children if r.info.run_name}


def _sweep(folder: Path, *launcher: str) -> str:
    """Run SWEEP under a launcher in ``folder``; check its job folders; its store's URI."""
    folder.mkdir()
    result = run_cli(*SWEEP, *launcher, cwd=folder)
    assert result.returncode == 0, result.stderr
    job_dirs = sorted(p.name for p in folder.glob("multirun/*/*/[0-9]*"))
    assert len(job_dirs) == 24
    configs = [list(folder.glob(f"multirun/*/*/{d}/.hydra/config.yaml")) for d in job_dirs]
    assert all(len(found) == 1 for found in configs), configs
    return f"sqlite:///{folder}/mlflow.db"


def _assert_same_records(reference: str, store: str) -> None:
    """Every run of the reference store has its twin in the other: status, params, tags,
    metrics, curves and artifacts."""
    ref_runs, runs = _children(reference), _children(store)
    assert len(ref_runs) == 24
    assert ref_runs.keys() == runs.keys()
    ref_client, client = MlflowClient(reference), MlflowClient(store)
    statuses = set()
    for name, ref in ref_runs.items():
        run = runs[name]
        statuses.add(run.info.status)
        assert run.info.status == ref.info.status, name
        assert run.data.params == ref.data.params, name
        assert run.data.tags.get("failure_reason") == ref.data.tags.get("failure_reason"), name
        assert run.data.tags["shallownet.config_hash"] == ref.data.tags["shallownet.config_hash"]
        assert run.data.metrics.keys() == ref.data.metrics.keys(), name
        for key, value in ref.data.metrics.items():
            assert run.data.metrics[key] == pytest.approx(
                value, rel=1e-9, abs=1e-12, nan_ok=True
            ), (name, key)
        for key in ("cost", "distinct_units", "sat_frac", "grad_norm/W1", "train_accuracy"):
            mine = client.get_metric_history(run.info.run_id, key)
            theirs = ref_client.get_metric_history(ref.info.run_id, key)
            assert [m.step for m in mine] == [m.step for m in theirs], (name, key)
            assert [m.value for m in mine] == pytest.approx(
                [m.value for m in theirs], rel=1e-9, abs=1e-12
            )
        assert artifact_paths(client, run.info.run_id) == artifact_paths(
            ref_client, ref.info.run_id
        )
    assert statuses == {"FINISHED", "FAILED"}  # lr 1e6 with relu diverges; it fails alone


def test_batched_and_sequential_sweeps_record_the_same(tmp_path: Path) -> None:
    basic = _sweep(tmp_path / "basic", "hydra/launcher=basic")
    batched = _sweep(tmp_path / "batched", "hydra/launcher=batched")
    _assert_same_records(basic, batched)


def test_submitit_runs_groups_and_records_as_the_batched_launcher(tmp_path: Path) -> None:
    """hydra/launcher=submitit_local: one submitit job per group of compatible jobs (here
    tanh and relu: 2 jobs for 24 networks), and the same records as the local launcher."""
    batched = _sweep(tmp_path / "batched", "hydra/launcher=batched")
    submitit = _sweep(
        tmp_path / "submitit", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"
    )
    submitted = list((tmp_path / "submitit").glob("multirun/*/*/.submitit/*/*_submitted.pkl"))
    assert len(submitted) == 2
    _assert_same_records(batched, submitit)


def test_a_plugin_that_raises_fails_alone(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=small,large",
        "activation=faulty",
        "seed=0,1",
        "train.iterations=200",
        "train.learning_rate=0.01",
        "tracking.figures=false",
        cwd=tmp_path,
        plugins=str(REPO / "tests" / "faulty_plugins.py"),
    )
    assert result.returncode == 1, result.stderr  # jobs failed on an error
    assert "training its jobs one by one" in result.stdout + result.stderr
    runs = _children(f"sqlite:///{tmp_path}/mlflow.db")
    assert len(runs) == 4  # the discarded batch attempt left no runs behind
    failed = {n: r for n, r in runs.items() if r.info.status == "FAILED"}
    finished = {n: r for n, r in runs.items() if r.info.status == "FINISHED"}
    assert failed
    assert finished  # small init at a small learning rate stays below |z| = 5
    for run in failed.values():
        assert (
            run.data.tags["failure_reason"] == "RuntimeError: faulty activation: |z| grew past 5"
        )
        assert run.data.params["init"] == "large"
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"shallownet: error: {len(failed)} of 4 jobs failed on an error, not in training: "
        )
    )
    assert all(math.isfinite(r.data.metrics["final_cost"]) for r in finished.values())
