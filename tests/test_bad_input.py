"""Bad input, from the command line and from Python: one clear line, a non-zero exit
code, and nothing written (no output folder, no store, no run).

The table runs in process, through Hydra's real config loader and the checks the
command makes (a single run: what ``ValidateRun`` checks; a sweep: the shallownet
sweeper's ``plan``); a handful of cases also run the real command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from mlflow.tracking import MlflowClient

import shallownet as sn
from shallownet.cli import register_plugins
from shallownet.config import store_configs
from shallownet.errors import USER_ERRORS, one_line
from shallownet.sweep import check_run, plan

from .cli_helpers import REPO, run_cli, written

FAULTY = str(REPO / "tests" / "faulty_plugins.py")
OPTIONS_INIT = "he, huge, large, normal, small, uniform, xavier, zeros"


def _csv(text: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / "data.csv").write_text(text)

    return write


def _file(name: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_text("")

    return write


# (arguments, SHALLOWNET_PLUGINS, files to create first, the exact message after "shallownet: error: ")
CASES = [
    (
        ("init=hee",),
        None,
        None,
        f"init='hee' is invalid: unknown option; choose from {OPTIONS_INIT}; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("activation=softmax",),
        None,
        None,
        "activation='softmax' is invalid: unknown option; choose from identity, leaky_relu, relu, sigmoid, tanh; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("data=iris",),
        None,
        None,
        "data='iris' is invalid: unknown option; choose from blobs, circles, csv, flower, gaussian_quantiles, moons, xor; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("train.learning_rate=abc",),
        None,
        None,
        "train.learning_rate: Value 'abc' of type 'str' could not be converted to Float",
    ),
    (
        ("train.iterations=2.5",),
        None,
        None,
        "train.iterations: Value '2.5' of type 'float' could not be converted to Integer",
    ),
    (
        ("train.learning_rate=-0.5",),
        None,
        None,
        "train.learning_rate=-0.5 is invalid: must be a positive number",
    ),
    (
        ("train.learning_rate=0",),
        None,
        None,
        "train.learning_rate=0.0 is invalid: must be a positive number",
    ),
    (
        ("train.iterations=0",),
        None,
        None,
        "train.iterations=0 is invalid: must be a positive integer",
    ),
    (("seed=-1",), None, None, "seed=-1 is invalid: must be an integer >= 0"),
    (
        ("model.hidden=[]",),
        None,
        None,
        "model.hidden=[] is invalid: must be a non-empty list of layer sizes like [4] or [10,5]",
    ),
    (
        ("model.hidden=[4,-1]",),
        None,
        None,
        "model.hidden=[4, -1] is invalid: layer sizes must be positive integers",
    ),
    (
        ("model.dtype=float16",),
        None,
        None,
        "model.dtype='float16' is invalid: must be float64 or float32",
    ),
    (("init.scale=-1",), None, None, "init: initializer 'normal': scale must be >= 0, got -1"),
    (
        ("init=zeros", "+init.scale=1"),
        None,
        None,
        "init.scale=1 is invalid: initializer 'zeros' accepts no parameters",
    ),
    (
        ("activation=leaky_relu", "activation.alpha=x"),
        None,
        None,
        "activation.alpha='x' is invalid: must be a number",
    ),
    (
        ("foo=1",),
        None,
        None,
        "foo: Key 'foo' not in 'Config'; see shallownet --help for the keys you can set",
    ),
    (
        ("-m", "seed=range("),
        None,
        None,
        "malformed override 'seed=range(': no viable alternative at input 'range('; see shallownet --help",
    ),
    (
        ("-m", "init=glob("),
        None,
        None,
        "malformed override 'init=glob(': no viable alternative at input 'glob('; see shallownet --help",
    ),
    (
        ("-m", "init=zeros,hee"),
        None,
        None,
        f"init='hee' is invalid: unknown option; choose from {OPTIONS_INIT}; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("-m", "seed=0,1", "train.learning_rate=1,-1"),
        None,
        None,
        "train.learning_rate=-1.0 is invalid: must be a positive number",
    ),
    (
        ("tracking.uri=http://127.0.0.1:9",),
        None,
        None,
        "tracking.uri='http://127.0.0.1:9' is unreachable (ConnectionError); start the server (mlflow server --host 127.0.0.1 --port PORT) or use tracking=none",
    ),
    (
        ("tracking.uri=sqlite:////nonexistent/dir/mlflow.db",),
        None,
        None,
        "tracking.uri='sqlite:////nonexistent/dir/mlflow.db' is invalid: directory '/nonexistent/dir' does not exist",
    ),
    (
        ("data=csv",),
        None,
        None,
        "data.path='???' is invalid: a value is required; add data.path=... to the command",
    ),
    (
        ("data=csv", "data.path=missing.csv"),
        None,
        None,
        "data: CSV file '{tmp}/missing.csv' does not exist",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("x,label\n1,0\nabc,1\n"),
        "data: CSV file '{tmp}/data.csv': column 'x' has a non-numeric value 'abc' on line 3",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("x,label\n1,0\n2,2\n"),
        "data: CSV file '{tmp}/data.csv': label column 'label' must hold 0 and 1 only, found 2",
    ),
    (
        ("data=csv", "data.path=data.csv", "data.label=y"),
        None,
        _csv("x,label\n1,0\n"),
        "data: CSV file '{tmp}/data.csv' has no label column 'y'; columns: x, label",
    ),
    (
        ("init=transposed",),
        FAULTY,
        None,
        "init: initializer 'transposed' returned shape (2, 4), expected (4, 2) (fan_out, fan_in)",
    ),
    (
        ("activation=wrong_derivative",),
        FAULTY,
        None,
        "activation: activation 'wrong_derivative': derivative disagrees with central differences at z=",
    ),
    (
        ("hydra.run.dir=afile/out",),
        None,
        _file("afile"),
        "hydra.run.dir='{tmp}/afile/out' is invalid: cannot create it ('{tmp}/afile' is not a writable directory); run from a writable directory or set hydra.run.dir",
    ),
    (
        ("-m", "seed=0", "hydra.sweep.dir=afile/out"),
        None,
        _file("afile"),
        "hydra.sweep.dir='{tmp}/afile/out' is invalid: cannot create it ('{tmp}/afile' is not a writable directory); run from a writable directory or set hydra.sweep.dir",
    ),
]


def refusal(args: tuple[str, ...], folder: Path) -> str:
    """The line ``shallownet ARGS`` prints on stderr, computed in process: Hydra's config
    loader composes the config as the command does, then the command's own checks run."""
    multirun = args[:1] == ("-m",)
    overrides = list(args[1:] if multirun else args)
    store_configs()
    register_plugins()
    GlobalHydra.instance().clear()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        try:
            mode = RunMode.MULTIRUN if multirun else RunMode.RUN
            config = loader.load_configuration("config", overrides, mode)
            if multirun:
                params = {str(k): str(v) for k, v in (config.hydra.sweeper.params or {}).items()}
                task_overrides = [str(o) for o in config.hydra.overrides.task]
                plan(config, loader, params, task_overrides)
            else:
                check_run(config)
        except USER_ERRORS as exc:
            return "shallownet: error: " + one_line(exc)
    pytest.fail(f"{args} was not refused")


def _check_message(line: str, message: str, folder: Path) -> None:
    expected = "shallownet: error: " + message.format(tmp=folder)
    if message.endswith("at z="):  # the point where the derivative disagrees varies
        assert line.startswith(expected), line
    else:
        assert line == expected


@pytest.mark.parametrize(("args", "plugins", "setup", "message"), CASES)
def test_bad_input_is_refused_in_one_line(
    args: tuple[str, ...],
    plugins: str | None,
    setup: Callable[[Path], None] | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    plugin_module: Callable[[str], ModuleType],
) -> None:
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    before = written(tmp_path)
    if plugins is not None:
        plugin_module(plugins)
    line = refusal(args, tmp_path)
    assert "\n" not in line
    _check_message(line, message, tmp_path)
    assert written(tmp_path) == before  # no outputs/, multirun/, mlflow.db, mlartifacts/


# The real command, for a few of them: exit code 2, one line on stderr, nothing written.
ON_THE_COMMAND_LINE = {
    ("init=hee",),
    ("-m", "seed=0,1", "train.learning_rate=1,-1"),
    ("-m", "init=glob("),
    ("init=transposed",),
    ("-m", "seed=0", "hydra.sweep.dir=afile/out"),
}
COMMAND_LINE = [case for case in CASES if case[0] in ON_THE_COMMAND_LINE]


@pytest.mark.parametrize(("args", "plugins", "setup", "message"), COMMAND_LINE)
def test_command_line(
    args: tuple[str, ...],
    plugins: str | None,
    setup: Callable[[Path], None] | None,
    message: str,
    tmp_path: Path,
) -> None:
    if setup is not None:
        setup(tmp_path)
    before = written(tmp_path)
    result = run_cli(*args, cwd=tmp_path, plugins=plugins)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    _check_message(lines[0], message, tmp_path)
    assert written(tmp_path) == before  # no outputs/, multirun/, mlflow.db, mlartifacts/


@pytest.mark.slow
def test_bad_sweep_writes_nothing_to_an_existing_store(tmp_path: Path) -> None:
    assert run_cli("train.iterations=10", "tracking.figures=false", cwd=tmp_path).returncode == 0
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("shallownet")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    files = written(tmp_path)
    result = run_cli("-m", "seed=0,1,2", "train.learning_rate=1,-1", cwd=tmp_path)
    assert result.returncode == 2
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert written(tmp_path) == files


X, Y = sn.datasets.flower()

PYTHON: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: sn.Network(n_x=2, activation="softmax"),
        LookupError,
        r"^unknown activation 'softmax'\. Valid names: identity, leaky_relu, relu, sigmoid, tanh$",
    ),
    (
        lambda: sn.Network(n_x=2, hidden=[0]),
        ValueError,
        r"^hidden must hold positive integers \(units per hidden layer\), got \[0\]$",
    ),
    (
        lambda: sn.train(sn.Network(2), X, Y, learning_rate=-1.0),
        ValueError,
        r"^learning_rate must be a positive number, got -1\.0$",
    ),
    (
        lambda: sn.train(sn.Network(2), X, Y * 2),
        ValueError,
        r"^Y must hold labels 0 and 1 only, got values \[0\. 2\.\]$",
    ),
    (
        lambda: sn.train(sn.Network(3), X, Y),
        ValueError,
        r"^X must have shape \(n_x=3, m\) with m >= 1, got \(2, 400\)$",
    ),
    (
        lambda: sn.Network(2, init="normal", init_kwargs={"sigma": 1}),
        sn.PluginError,
        r"^initializer 'normal' has no parameter sigma; allowed: scale$",
    ),
    (
        lambda: sn.datasets.load("circles", n_samples=-5),
        ValueError,
        r"^n_samples must be an integer >= 2, got -5$",
    ),
    (
        lambda: sn.activations.register("tanh", sn.activations.get("relu")),
        sn.PluginError,
        r"^activation 'tanh' is already registered \(by shallownet\.activations\.<lambda> .*\); pass overwrite=True to replace it$",
    ),
    (
        lambda: sn.initializers.register("he", lambda shape, rng: np.ones(shape)),
        sn.PluginError,
        r"^initializer 'he' is already registered \(by shallownet\.initializers\.he .*\); pass overwrite=True to replace it$",
    ),
    (
        lambda: sn.datasets.split(X, Y, test_fraction=0.0),
        ValueError,
        r"^test_fraction must be in \(0, 1\), got 0\.0$",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), PYTHON)
def test_python_api(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()
