"""The real ``shallownet`` command: help, single runs, sweeps, presets, launchers, bad input."""

from __future__ import annotations

import ast
import math
import re
import subprocess
from pathlib import Path

import pytest

from .cli_helpers import BIN, CUSTOM_PLUGINS, REPO, clean_env, run_cli, written
from .store_helpers import parents_and_children

PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
TINY = ("train.iterations=20", "tracking=none")
# every init option once experiments/custom_plugins/plugins.py is imported
INITS_WITH_CUSTOM = [
    "constant",
    "he",
    "huge",
    "large",
    "normal",
    "orthogonal",
    "small",
    "standard",
    "uniform",
    "xavier",
    "zeros",
]


def _job_dirs(folder: Path) -> list[str]:
    # job folders are numbered; launchers may add their own (submitit's .submitit/)
    return sorted(p.name for p in folder.glob("multirun/*/*/[0-9]*") if p.is_dir())


def test_help_lists_every_plugin_as_an_option(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path, plugins=str(CUSTOM_PLUGINS))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    groups = re.search(r"init: (.*)", out)
    assert groups is not None
    assert groups.group(1).split(", ") == INITS_WITH_CUSTOM
    assert re.search(r"activation: identity, leaky_relu, relu, sigmoid, softsign, tanh", out)
    assert (
        "experiment: custom_plugins, depth, fan_in, hidden_sizes, init_deep, init_grid, main, saturation, "
        "symmetry" in out
    )
    assert "shallownet -m init=zeros,small,large activation=sigmoid,tanh,relu" in out
    assert "SHALLOWNET_PLUGINS" in out
    assert written(tmp_path) == []


def test_single_run_prints_one_summary_line(tmp_path: Path) -> None:
    result = run_cli("train.iterations=300", "tracking=none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    match = re.fullmatch(
        r"train\.iterations=300: FINISHED, final cost (\S+), train accuracy (\S+)",
        lines[0],
    )
    assert match is not None, lines[0]
    assert 0.2 < float(match.group(1)) < 0.5
    assert 0.8 < float(match.group(2)) <= 1.0
    assert not (tmp_path / "mlflow.db").exists()
    run_dirs = list(tmp_path.glob("outputs/*/*"))
    assert len(run_dirs) == 1
    assert (run_dirs[0] / ".hydra" / "config.yaml").is_file()


def test_sweep_runs_the_grid_in_predictable_directories(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=zeros,small,large",
        "activation=sigmoid,tanh,relu",
        "seed=0",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    dirs = _job_dirs(tmp_path)
    assert len(dirs) == 9
    assert dirs[0] == "0_activation=sigmoid,init=zeros,seed=0,train.iterations=20"
    assert sum("FINISHED" in line for line in result.stdout.splitlines()) == 9


@pytest.mark.slow
def test_main_study_is_one_short_command(tmp_path: Path) -> None:
    result = run_cli("-m", "experiment=main", "train.iterations=5", "tracking=none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dirs = _job_dirs(tmp_path)
    assert len(dirs) == 90  # flower/many_features x zeros/small/large x 3 activations x 5 seeds
    combos = {tuple(sorted(d.split("_", 1)[1].split(",")[:5])) for d in dirs}
    assert len(combos) == 90


@pytest.mark.slow
def test_a_sweep_is_exactly_the_grid_typed(tmp_path: Path) -> None:
    result = run_cli("-m", "train.learning_rate=0.5,1.2", "train.iterations=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(_job_dirs(tmp_path)) == 2
    parents, children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert [p.info.run_name for p in parents] == ["train.learning_rate=0.5,1.2"]
    assert sorted(c.info.run_name for c in children) == [
        "train.learning_rate=0.5,train.iterations=5",
        "train.learning_rate=1.2,train.iterations=5",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_as_a_tiny_sweep(preset: str, tmp_path: Path) -> None:
    result = run_cli(
        "-m", f"experiment={preset}", "seed=0", *TINY, cwd=tmp_path, plugins=str(CUSTOM_PLUGINS)
    )
    assert result.returncode == 0, result.stderr
    finished = [line for line in result.stdout.splitlines() if ": FINISHED, final cost" in line]
    assert len(finished) == len(_job_dirs(tmp_path)) >= 2
    total = len(finished)  # each line says how far the sweep is
    assert [line.partition("]")[0].partition(",")[0] for line in finished] == [
        f"[{k}/{total}" for k in range(1, total + 1)
    ]
    assert finished[-1].startswith(f"[{total}/{total}] ")


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
        ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"),
    ],
)
def test_parallel_launchers_see_plugins_from_a_user_module(
    launcher: tuple[str, ...], tmp_path: Path
) -> None:
    result = run_cli(
        "-m",
        "init=orthogonal,he",
        "activation=softsign",
        "seed=0",
        *TINY,
        *launcher,
        cwd=tmp_path,
        plugins=str(CUSTOM_PLUGINS),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    dirs = _job_dirs(tmp_path)
    assert len(dirs) == 2
    assert any("init=orthogonal" in d for d in dirs)


@pytest.mark.slow
def test_glob_sweep_covers_every_registered_initializer(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=glob(*)",
        "activation=tanh",
        "seed=0",
        *TINY,
        "hydra/launcher=joblib",
        cwd=tmp_path,
        plugins=str(CUSTOM_PLUGINS),
    )
    assert result.returncode == 0, result.stderr
    inits = sorted(re.search(r"init=(\w+)", d).group(1) for d in _job_dirs(tmp_path))  # type: ignore[union-attr]
    assert inits == INITS_WITH_CUSTOM


@pytest.mark.slow
def test_relative_plugin_path_works_from_the_launch_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "import numpy as np, shallownet as sn\n"
        "sn.initializers.register('halves', lambda shape, rng: np.full(shape, 0.5))\n"
    )
    result = run_cli(
        "-m",
        "init=halves",
        *TINY,
        "seed=0",
        "hydra/launcher=joblib",
        cwd=tmp_path,
        plugins="mine.py",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_job_returns_its_final_cost(tmp_path: Path) -> None:
    """What a sweeper receives (JobReturn.return_value) is the job's final cost."""
    result = run_cli(
        "-m",
        "init=small",
        "activation=tanh",
        "seed=0,1",
        *TINY,
        "+hydra.callbacks.record._target_=tests.record_returns.RecordReturns",
        "hydra.launcher.n_jobs=1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    printed = [float(m) for m in re.findall(r"final cost (\S+?),", result.stdout)]
    # the batched launcher runs the task once per group: its return lists the jobs' costs
    lines = (tmp_path / "returns.txt").read_text().splitlines()
    returned = [c for line in lines for c in ast.literal_eval(line)]
    assert len(lines) == 1
    assert len(returned) == 2
    assert all(math.isfinite(c) for c in returned)
    assert returned == pytest.approx(printed, abs=1e-6)


def test_an_integer_too_long_for_python_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_cli("seed=" + "9" * 5000, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "shallownet: error: seed=<an integer of 5000 digits> is invalid: no setting takes "
        "an integer of that many digits; see shallownet --help"
    )
    assert written(tmp_path) == []


@pytest.mark.slow
def test_a_sweep_whose_reader_goes_away_runs_to_its_end_quietly(tmp_path: Path) -> None:
    """``shallownet -m ... | head``: 266 lines of logging errors, then exit 1 with
    'cannot write: Broken pipe' (issue "Nothing lost, round four"); now nothing more is
    printed there, and the sweep ends as it would have."""
    env = clean_env()
    proc = subprocess.Popen(
        [str(BIN / "shallownet"), "-m", "seed=0,1,2", "train.iterations=300"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # as head does: one line, then it goes away
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stderr == ""
    (parent,), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert parent.info.status == "FINISHED"
    assert [run.info.status for run in children] == ["FINISHED"] * 3
