"""Long sweeps users can trust: parallel writers lose nothing, Ctrl-C leaves a truthful
store, and a rerun with tracking.skip_finished=true runs only what is missing."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from .cli_helpers import run_cli, started
from .servers import mlflow_server
from .store_helpers import experiment_runs, parents_and_children

# 2 x 2 x 5 x 2 = 40 jobs; relu with learning rate 1e6 diverges (10 FAILED runs)
FORTY = (
    "-m",
    "init=small,large",
    "activation=relu,tanh",
    "seed=range(5)",
    "train.learning_rate=1.2,1e6",
    "train.iterations=100",
    "tracking.figures=false",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=3",
)

pytestmark = pytest.mark.slow  # real sweeps, servers or browsers


def _check_forty(uri: str) -> None:
    parents, children = parents_and_children(uri)
    assert len(parents) == 1
    assert parents[0].info.status == "FINISHED"
    assert len(children) == 40
    assert len({c.info.run_name for c in children}) == 40  # every job recorded exactly once
    client = MlflowClient(uri)
    statuses: Counter[str] = Counter()
    for child in children:
        p = child.data.params
        diverges = p["activation"] == "relu" and p["train.learning_rate"] == "1000000.0"
        expected = "FAILED" if diverges else "FINISHED"
        assert child.info.status == expected, child.info.run_name
        statuses[expected] += 1
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "cost")]
        if expected == "FINISHED":
            assert steps == [*range(0, 100, 10), 99, 100]  # complete: every point, in order
            assert len(client.get_metric_history(child.info.run_id, "sat_frac")) == 11
        else:
            assert steps == sorted(steps)
            assert child.data.tags["failure_reason"].startswith("diverged at step ")
    assert statuses == {"FINISHED": 30, "FAILED": 10}
    assert parents[0].data.tags["children_finished"] == "30"
    assert parents[0].data.tags["children_failed"] == "10"


def test_forty_parallel_jobs_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    result = run_cli(*FORTY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _check_forty(f"sqlite:///{tmp_path}/mlflow.db")


def test_forty_parallel_jobs_against_an_mlflow_server(tmp_path: Path) -> None:
    with mlflow_server(tmp_path) as url:
        result = run_cli(*FORTY, f"tracking.uri={url}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        _check_forty(url)


SLOW = (
    "-m",
    "init=small,large",
    "activation=tanh,relu",
    "seed=range(3)",
    "train.iterations=30000",
    "tracking.figures=false",
)


@pytest.mark.parametrize("launcher", ["basic", "batched"])
def test_ctrl_c_then_resume(launcher: str, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *SLOW, f"hydra/launcher={launcher}") as proc:
        deadline = time.monotonic() + 240
        while True:  # interrupt once some runs have finished and others are under way
            assert proc.poll() is None, proc.communicate()
            # the first job folder appears after the store is created: only then read it
            if any(tmp_path.glob("multirun/*/*/0_*")):
                children = [r for r in experiment_runs(uri) if "mlflow.parentRunId" in r.data.tags]
                if sum(r.info.status == "FINISHED" for r in children) >= 2 and any(
                    r.info.status == "RUNNING" for r in children
                ):
                    break
            assert time.monotonic() < deadline, "the sweep never got under way"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "shallownet: interrupted" in stderr

    runs = experiment_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    statuses = Counter(r.info.status for r in children)
    assert "RUNNING" not in statuses
    assert statuses["KILLED"] >= 1
    assert statuses["FINISHED"] >= 2
    assert parent.info.status == "KILLED"
    assert parent.data.tags["children_killed"] == str(statuses["KILLED"])
    finished = {r.info.run_name for r in children if r.info.status == "FINISHED"}
    for run in children:
        if run.info.status == "FINISHED":
            assert "final_cost" in run.data.metrics  # finished runs are intact

    result = run_cli(
        *SLOW, f"hydra/launcher={launcher}", "tracking.skip_finished=true", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("skipped, already FINISHED") == len(finished)
    runs = experiment_runs(uri)
    done = Counter(
        r.info.run_name for r in runs if r.info.status == "FINISHED" and r.info.run_name
    )
    done.pop(parent.info.run_name, None)
    sweep_names = {n for n in done if not n.startswith("sweep ")}
    assert len(sweep_names) == 12  # every configuration FINISHED ...
    assert all(done[n] == 1 for n in sweep_names)  # ... exactly once
