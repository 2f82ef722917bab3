"""Sweeps from Python (``sn.sweep``): the command line's path, plugins registered in the
calling process, and the results read back as frames and figures."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from mlflow.entities import Run

import shallownet as sn
from shallownet.carried_plugins import registered_here
from shallownet.config import store_configs
from shallownet.errors import ConfigError
from shallownet.network import Array

from .cli_helpers import (
    CUSTOM_PLUGINS,
    REPO,
    clean_env,
    run_cli,
    terminal_signals,
    wait_for,
    written,
)
from .store_helpers import parents_and_children, printed_runs_in_store

SWEEP = ["init=zeros,small", "activation=tanh", "seed=0,1", "train.iterations=200"]


def scaled_identity(shape: tuple[int, int], rng: np.random.Generator, gain: float = 0.5) -> Array:
    """An initializer of this test module's own: ``gain`` times the first columns of the
    identity, plus a little noise (so the units differ)."""
    fan_out, fan_in = shape
    return gain * np.eye(fan_out, fan_in) + 0.01 * rng.standard_normal(shape)


@pytest.fixture
def own_plugin() -> str:
    """``scaled_identity`` registered by a call in this process, as a notebook does (the
    registries are restored after each test: conftest)."""
    sn.initializers.register("scaled_identity", scaled_identity)
    store_configs()
    return "scaled_identity"


def _params_and_metrics(children: list[Run]) -> dict[str, tuple[dict[str, str], dict[str, float]]]:
    """Each run by name: its params except where it was written, its final metrics."""
    out = {}
    for run in children:
        params = {k: v for k, v in run.data.params.items() if not k.startswith("tracking.")}
        out[run.info.run_name] = (params, dict(run.data.metrics))
    return out


def test_registered_here_lists_the_plugins_a_fresh_process_would_not_have(
    plugin_module: object, own_plugin: str
) -> None:
    assert registered_here() == {"init": {"scaled_identity": scaled_identity}}
    load = plugin_module
    assert callable(load)
    load(str(CUSTOM_PLUGINS))  # a module named in SHALLOWNET_PLUGINS: workers import it
    assert set(registered_here()) == {"init"}
    assert "orthogonal" in sn.initializers  # registered by the module, not carried
    assert list(registered_here()["init"]) == ["scaled_identity"]
    sn.initializers.unregister("scaled_identity")
    assert registered_here() == {}


def test_a_bad_value_raises_the_commands_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        sn.sweep(["init=zeros,small", "train.learning_rate=-1"])
    cli = run_cli("-m", "init=zeros,small", "train.learning_rate=-1", cwd=tmp_path)
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"shallownet: error: {raised.value}"
    assert str(raised.value) == "train.learning_rate=-1.0 is invalid: must be a positive number"
    assert written(tmp_path) == []


def test_hydras_own_launchers_refuse_a_plugin_registered_here_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_plugin: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        sn.sweep([f"init=small,{own_plugin}", "hydra/launcher=joblib"])
    assert str(raised.value).startswith(
        "init=scaled_identity is registered in this process "
        "(tests.test_python_sweep.scaled_identity ("
    )
    assert str(raised.value).endswith(
        "and hydra/launcher=joblib starts workers that do not have it: put it in a module "
        "named in SHALLOWNET_PLUGINS (e.g. SHALLOWNET_PLUGINS=my_plugins.py), or use "
        "hydra/launcher=batched, which carries it to its workers"
    )
    assert written(tmp_path) == []


_HELD = threading.Lock()  # cannot be pickled: neither can a plugin that uses it


def locked_identity(shape: tuple[int, int], rng: np.random.Generator) -> Array:
    with _HELD:
        return np.eye(*shape) + 0.01 * rng.standard_normal(shape)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: sn.sweep(["seed=0,1", "tracking=none"]),
            ConfigError,
            r"^sn.sweep reads its runs back from the store: leave tracking on \(not tracking=none\)$",
        ),
        (
            lambda: sn.sweep(["seed=0,1"], tracking_uri=5),
            TypeError,
            r"^sn.sweep's tracking_uri=5 is invalid: must be a string, or None for tracking.uri as configured$",
        ),
        (
            lambda: sn.sweep(["seed=0,1"], experiment=["a"]),
            TypeError,
            r"^sn.sweep's experiment=\['a'\] is invalid: must be a string, or None for tracking.experiment",
        ),
        (
            lambda: sn.sweep("seed=0,1"),
            TypeError,
            r"^sn.sweep's overrides='seed=0,1' is invalid: must be a list of strings",
        ),
        (
            lambda: sn.sweep(["init=locked_identity", "seed=0,1", "hydra.launcher.n_jobs=2"]),
            ConfigError,
            r"^init=locked_identity is registered in this process \(.*\) and cannot be carried to "
            r"the worker processes of hydra/launcher=batched \(TypeError: cannot pickle "
            r"'_thread.lock' object\); .* or train in this process: hydra.launcher.n_jobs=1$",
        ),
    ],
    ids=[
        "tracking off",
        "a uri not a string",
        "an experiment not a string",
        "one string",
        "a plugin that cannot be pickled",
    ],
)
def test_a_sweeps_arguments_are_refused_before_anything_runs(
    call: Callable[[], object],
    error: type[Exception],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each trained the sweep (or part of it) before it was refused (issue "Nothing lost,
    round four")."""
    monkeypatch.chdir(tmp_path)
    sn.initializers.register("locked_identity", locked_identity)
    store_configs()
    with pytest.raises(error, match=message):
        call()
    assert written(tmp_path) == []


def test_another_sweeper_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^hydra/sweeper=optuna is invalid: sn.sweep runs"):
        sn.sweep(["hydra/sweeper=optuna"], tracking_uri=f"sqlite:///{tmp_path}/x.db")
    assert written(tmp_path) == []


@pytest.mark.slow
def test_a_sweep_from_python_records_what_the_command_line_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli").mkdir()
    (tmp_path / "py").mkdir()
    cli = run_cli("-m", *SWEEP, cwd=tmp_path / "cli")
    assert cli.returncode == 0, cli.stderr
    monkeypatch.chdir(tmp_path / "py")
    study = sn.sweep(SWEEP)

    uri = f"sqlite:///{tmp_path / 'py' / 'mlflow.db'}"
    assert (study.tracking_uri, study.experiment, study.status) == (uri, "shallownet", "FINISHED")
    (parent,), children = parents_and_children(uri)
    assert study.parent_id == parent.info.run_id
    assert parent.data.params == {
        "sweep.init": "zeros,small",
        "sweep.seed": "0,1",
        "sweep.activation": "tanh",
        "sweep.train.iterations": "200",
    }
    (cli_parent,), cli_children = parents_and_children(
        f"sqlite:///{tmp_path / 'cli' / 'mlflow.db'}"
    )
    assert parent.info.run_name == cli_parent.info.run_name == "init=zeros,small seed=0,1"
    assert _params_and_metrics(children) == _params_and_metrics(cli_children)
    assert len(children) == 4
    # the lines the command prints at its end, with this sweep's parent and store
    assert study.lines[0].startswith(
        f"shallownet: 4 runs (4 FINISHED) under parent run {parent.info.run_id}"
    )
    assert study.open.endswith(f"viewStateShareKey={parent.info.run_id}&compareRunsMode=CHART")
    port = study.open.removeprefix("http://127.0.0.1:").partition("/")[0]  # free when printed
    assert study.serve == (
        f"{Path(sys.executable).parent / 'mlflow'} ui --backend-store-uri {uri} "
        f"--host 127.0.0.1 --port {port}"
    )
    assert repr(study) == "\n".join(study.lines)
    # the frames of load_sweep, its tables and its figures
    assert sorted(study.runs["run_name"]) == sorted(run.info.run_name for run in children)
    table = study.table()
    assert list(table["init"]) == ["zeros", "small"]
    assert list(table["runs"]) == [2, 2]
    zeros = table.set_index("init").loc["zeros"]
    assert zeros["distinct_units_median"] == 1  # symmetry: one unit, four times
    assert zeros["final_cost_median"] == pytest.approx(np.log(2), abs=1e-9)
    costs = study.cost_figure()
    assert isinstance(costs, Figure)
    (panel,) = [ax for ax in costs.axes if ax.get_lines()]  # one key swept: one panel
    assert panel.get_title() == "cost"
    assert [line.get_label() for line in panel.get_lines()] == [
        "init=zeros",
        "init=small",
        "ln 2 (chance)",  # the median of each over the seeds
    ]
    assert isinstance(study.summary_figure(), Figure)
    assert study.layers_figure() is None  # one hidden layer


NOTEBOOK = """
import shallownet as sn
try:
    sn.sweep(["seed=range(6)", "train.iterations=400000", "hydra.launcher.n_jobs=2"])
except KeyboardInterrupt:
    print("interrupted", flush=True)
study = sn.sweep(["seed=0,1", "train.iterations=50"], experiment="second")
print(study.lines[0])
"""


@pytest.mark.slow
def test_a_sweep_after_an_interrupted_one_keeps_its_runs(tmp_path: Path) -> None:
    """A notebook's workflow: stop a cell (Ctrl-C: SIGINT to the whole group), run
    another. The second sweep's runs were lost (issue "Nothing lost, round four": it
    checked the store outside SQLite while this process held it open)."""
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    db = tmp_path / "mlflow.db"
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=clean_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=terminal_signals,  # the test starts no threads meanwhile
    )
    try:
        wait_for(lambda: _running(db) >= 3, 120, "the first sweep's runs to be RUNNING")
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C
        out, err = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "interrupted" in out
    for noise in ("Traceback", "Exception ignored", "race condition"):
        assert noise not in err, err[-3000:]
    said = printed_runs_in_store(db, out)
    uri = f"sqlite:///{db}"
    (parent,), children = parents_and_children(uri, "second")
    assert (parent.info.status, len(children)) == ("FINISHED", 2)
    second = {run.info.run_id for run in children}
    assert second <= set(said)  # each printed FINISHED, and so stored
    assert out.splitlines()[-1].startswith("shallownet: 2 runs (2 FINISHED) under parent run")
    (first,), stopped = parents_and_children(uri)
    assert first.info.status == "KILLED"
    assert stopped
    assert {run.info.status for run in stopped} <= {"KILLED", "FINISHED"}


def _running(db: Path) -> int:
    """How many runs of an SQLite store are RUNNING (0 before it has its tables)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=10)
    try:
        return int(con.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


@pytest.mark.slow
def test_a_plugin_of_this_module_sweeps_in_two_workers_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_plugin: str
) -> None:
    monkeypatch.chdir(tmp_path)
    typed = [f"init=small,{own_plugin}", "activation=tanh", "seed=0,1", "train.iterations=300"]
    apart = sn.sweep([*typed, "hydra.launcher.n_jobs=2"], experiment="two workers")
    here = sn.sweep([*typed, "hydra.launcher.n_jobs=1"], experiment="one process")
    assert apart.status == here.status == "FINISHED"
    ours = apart.runs[apart.runs["init"] == own_plugin]
    assert list(ours["status"]) == ["FINISHED", "FINISHED"]
    assert list(ours["init.gain"]) == ["0.5", "0.5"]

    def final_costs(study: sn.study.Study) -> dict[str, float]:
        runs = study.runs
        return dict(zip(runs["run_name"], runs["final_cost"], strict=True))

    assert final_costs(apart) == final_costs(here)  # the same numbers, exactly
    assert len(final_costs(apart)) == 4


@pytest.mark.slow
def test_a_script_with_threads_sweeps_its_main_plugins_in_spawned_workers(tmp_path: Path) -> None:
    """As in a notebook's kernel: threads running (so workers are spawned, not forked),
    plugins defined in ``__main__``, and no ``if __name__ == "__main__":`` guard."""
    script = tmp_path / "study.py"
    script.write_text(
        textwrap.dedent("""
        import threading, time
        import numpy as np
        import shallownet as sn
        from hydra_plugins.shallownet_hydra.workers import start_method

        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        assert start_method() == "spawn"

        @sn.initializers.register("orthogonal")
        def orthogonal(shape, rng, gain=1.0):
            q, r = np.linalg.qr(rng.standard_normal((max(shape), min(shape))))
            q = q * np.sign(np.diag(r))
            return gain * (q if shape[0] >= shape[1] else q.T)

        sn.activations.register("softsign", sn.Activation(
            forward=lambda z: z / (1 + np.abs(z)), derivative=lambda z, a: 1 / (1 + np.abs(z)) ** 2))

        study = sn.sweep(["init=small,orthogonal", "activation=tanh,softsign", "seed=0,1",
                          "train.iterations=300", "hydra.launcher.n_jobs=2"])
        print("STATUS", study.status, sorted(study.runs["status"].unique()))
        table = study.table()
        for row in table.itertuples():
            print("ROW", row.init, row.activation, row.finished, f"{row.final_cost_median:.6f}")
    """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHALLOWNET_", "HYDRA_"))}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "STATUS FINISHED ['FINISHED']" in lines
    rows = [line.split() for line in lines if line.startswith("ROW")]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("small", "tanh", "2"),
        ("small", "softsign", "2"),
        ("orthogonal", "tanh", "2"),
        ("orthogonal", "softsign", "2"),
    ]
    assert out.stdout.count("Launching 8 jobs") == 1  # no worker ran the script again


@pytest.mark.slow
def test_a_plugin_of_this_module_sweeps_under_submitit_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_plugin: str
) -> None:
    """Hydra's submitit launchers get batches from shallownet (submitit_batches), with the
    plugins registered here; each submitit job is a fresh Python process."""
    monkeypatch.chdir(tmp_path)
    typed = [f"init=small,{own_plugin}", "seed=0,1", "train.iterations=300"]
    study = sn.sweep([*typed, "hydra/launcher=submitit_local"])
    assert study.status == "FINISHED"
    assert sorted(study.runs["init"]) == ["scaled_identity", "scaled_identity", "small", "small"]
    assert set(study.runs["status"]) == {"FINISHED"}
