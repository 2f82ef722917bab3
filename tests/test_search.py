"""Another Hydra sweeper's search (Optuna) through the batched launcher: one parent run,
the view, the report with the best run, and a drawn value that fails validation failing
its trial alone."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from shallownet.vocabulary import REASON_TAG, SEARCH_TAG

from .cli_helpers import REPO, run_cli
from .store_helpers import parents_and_children, printed_runs_in_store

pytestmark = pytest.mark.slow  # a real search, in real worker processes

SEARCH = (
    "-m",
    "hydra/sweeper=optuna",
    "hydra.sweeper.n_trials=6",
    "hydra.sweeper.n_jobs=3",
    "hydra.sweeper.sampler.seed=2",  # its first six draws include learning rates <= 0
    "train.learning_rate=interval(-1.0,2.0)",
    "train.iterations=300",
)


def test_an_optuna_search_is_a_sweep_with_a_parent_a_view_and_a_report(tmp_path: Path) -> None:
    result = run_cli(*SEARCH, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (parent,), children = parents_and_children(uri)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "optuna: train.learning_rate=interval(-1.0,2.0)"
    assert parent.data.tags[SEARCH_TAG] == "optuna: minimize final_cost"
    assert parent.data.params["sweep.train.learning_rate"] == "interval(-1.0,2.0)"
    assert len(children) == 6  # every trial has its run
    statuses = sorted(run.info.status for run in children)
    assert set(statuses) == {"FAILED", "FINISHED"}, statuses  # a bad draw fails its trial
    for run in children:
        rate = float(run.data.tags["shallownet.overrides"].split(",")[0].partition("=")[2])
        if rate <= 0:  # refused before training, with the one-line reason
            assert run.info.status == "FAILED"
            assert run.data.tags[REASON_TAG] == (
                f"train.learning_rate={rate!r} is invalid: must be a positive number"
            )
        else:
            assert run.info.status == "FINISHED"
            assert "final_cost" in run.data.metrics
    assert parent.data.tags["children_failed"] == str(statuses.count("FAILED"))
    # the lines that end a sweep, and none of the libraries' own
    assert re.search(
        r"^  open:    http://127\.0\.0\.1:\d+/#/experiments/1/runs\?viewStateShareKey=",
        result.stdout,
        re.M,
    )
    assert "  compare: " in result.stdout
    printed = result.stdout + result.stderr
    for theirs in ("setup plugin alembic", "A new study created", "Study name:", "Best value:"):
        assert theirs not in printed
    # trials counted over the whole search, not batch by batch (3 at a time)
    counts = [int(n) for n in re.findall(r"^\[(\d+)/6\b", result.stdout, re.M)]
    assert len(counts) == statuses.count("FINISHED")  # a refused trial's line is its error
    assert counts == sorted(set(counts))  # in order, each once (refused ones counted too)
    assert counts[-1] == 6
    # the search's last lines, then the report, name the best run, by what it minimized
    best = min(
        (run for run in children if run.info.status == "FINISHED"),
        key=lambda run: run.data.metrics["final_cost"],
    )
    said = f"{best.info.run_name}: final_cost {best.data.metrics['final_cost']:.6g}"
    assert f"\n  best:    {said} (optuna: minimize final_cost)\n" in result.stdout
    report = run_cli(
        "--no-attach", "--out", str(tmp_path / "report"), cwd=tmp_path, command="shallownet-report"
    )
    assert report.returncode == 0, report.stderr
    assert (
        f"best: {best.info.run_name}: final_cost {best.data.metrics['final_cost']:.6g} "
        "(optuna: minimize final_cost)"
    ) in report.stdout


def documented_search() -> tuple[str, ...]:
    """docs/command-line.md's Optuna search, as a user copies it from there."""
    text = (REPO / "docs" / "command-line.md").read_text()
    (line,) = re.findall(r"^shallownet -m hydra/sweeper=optuna .*$", text, re.M)
    return tuple(shlex.split(line)[1:])


DOCUMENTED = documented_search()


@pytest.mark.parametrize(
    "command",
    [DOCUMENTED, ("-m", "seed=range(20)", "train.iterations=2000")],
    ids=["the documented search", "a sweep of its size"],
)
def test_every_run_printed_is_in_an_intact_store(command: tuple[str, ...], tmp_path: Path) -> None:
    """The documented search once printed FINISHED runs that were not in mlflow.db, or
    left it "not a database" (issue "Nothing lost, round four": the launching process
    opened the store's file outside SQLite at every batch, releasing SQLite's locks)."""
    result = run_cli(*command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    said = printed_runs_in_store(tmp_path / "mlflow.db", result.stdout)
    assert len(said) == 20  # the documented search's n_trials, and the sweep's jobs
    (parent,), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert parent.info.status == "FINISHED"
    assert sorted(run.info.run_id for run in children) == sorted(said)
    assert "20 runs (20 FINISHED)" in result.stdout


def test_hydras_basic_sweeper_gets_a_parent_run_without_an_objective(tmp_path: Path) -> None:
    result = run_cli(
        "-m", "hydra/sweeper=basic", "init=zeros,small", "train.iterations=100", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (parent,), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "basic: init=zeros,small"
    assert SEARCH_TAG not in parent.data.tags  # it optimizes nothing: no best run to name
    assert sorted(run.info.status for run in children) == ["FINISHED", "FINISHED"]
    report = run_cli(
        "--no-attach", "--out", str(tmp_path / "report"), cwd=tmp_path, command="shallownet-report"
    )
    assert report.returncode == 0, report.stderr
    assert "best:" not in report.stdout
    assert "| init | runs |" in report.stdout


def test_a_search_whose_trials_fail_on_an_error_exits_1(tmp_path: Path) -> None:
    """As a sweep does (it exited 0: issue "Nothing lost, round four"); its last line names
    the first such trial and says what to do, without a resume a search refuses."""
    result = run_cli(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=2",
        "train.learning_rate=interval(0.01,0.1)",
        "init=small,large",
        "activation=faulty",
        "train.iterations=50",
        cwd=tmp_path,
        plugins=str(REPO / "tests" / "faulty_plugins.py"),
    )
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"shallownet: error: \d of 4 jobs failed on an error, not in training: .*init=large.*"
        r"RuntimeError: faulty activation: \|z\| grew past 5.*; once it is fixed, run the "
        r"search again",
        last,
    ), last
    (parent,), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert parent.info.status == "FINISHED"  # the search ran to its end
    assert {run.info.status for run in children} <= {"FAILED", "FINISHED"}
    assert len(children) == 4
