"""Bad input, from the command line and from Python: one clear line, a non-zero exit
code, and nothing written (no output folder, no store, no run).

The table runs in process, through Hydra's real config loader and the checks the
command makes (a single run: what ``ValidateRun`` checks; a sweep: the shallownet
sweeper's ``plan``); a handful of cases also run the real command.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

import shallownet as sn
from hydra_plugins.shallownet_hydra.sweeper import register_hydra_plugins
from shallownet.config import store_configs
from shallownet.messages import USER_ERRORS, one_line
from shallownet.plan import plan
from shallownet.validate import check_run

from .cli_helpers import BIN, REPO, clean_env, run_cli, written

FAULTY = str(REPO / "tests" / "faulty_plugins.py")
OPTIONS_INIT = "constant, he, huge, large, normal, small, standard, uniform, xavier, zeros"


def _csv(text: str) -> Callable[[Path], None]:
    return _csv_named("data.csv", text)


def _csv_named(name: str, text: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_text(text)

    return write


def _file(name: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_text("")

    return write


# (arguments, SHALLOWNET_PLUGINS, files to create first, the exact message after "shallownet: error: ")
Case = tuple[tuple[str, ...], str | None, Callable[[Path], None] | None, str]

CASES: list[Case] = [
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
        "data='iris' is invalid: unknown option; choose from blobs, circles, csv, flower, gaussian_quantiles, many_features, moons, xor; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
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
    (  # float32 rounds it to 0: training went on, flat, and ended FINISHED
        ("model.dtype=float32", "train.learning_rate=1e-50"),
        None,
        None,
        "train.learning_rate=1e-50 is invalid: in model.dtype=float32 it is 0; use a value from 1.18e-38 to 3.4e+38 or model.dtype=float64",
    ),
    (
        ("model.dtype=float32", "train.learning_rate=1e39"),
        None,
        None,
        "train.learning_rate=1e+39 is invalid: in model.dtype=float32 it is inf; use a value from 1.18e-38 to 3.4e+38 or model.dtype=float64",
    ),
    (
        ("train.learning_rate=1e-320",),
        None,
        None,
        "train.learning_rate=1e-320 is invalid: in model.dtype=float64 it is 1e-320, a subnormal that has lost digits; use a value from 2.23e-308 to 1.8e+308",
    ),
    (
        ("train.iterations=0",),
        None,
        None,
        "train.iterations=0 is invalid: must be a positive integer",
    ),
    (("seed=-1",), None, None, "seed=-1 is invalid: must be an integer from 0 to 4294967295"),
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
    (  # pandas would rename the second 'label' to 'label.1': a feature holding the label
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("a,label,label\n1,0,0\n2,1,1\n"),
        "data: CSV file '{tmp}/data.csv': column name 'label' appears twice (columns 2 and 3); give each column its own name",
    ),
    (
        ("init=transposed",),
        FAULTY,
        None,
        "init: initializer 'transposed' returned shape (2, 4), expected (4, 2) (fan_out, fan_in)",
    ),
    (
        ("data=nan_features",),
        FAULTY,
        None,
        "data: data set 'nan_features' returned 1 feature value(s) that are not finite (nan or inf); features must be finite numbers",
    ),
    (
        ("activation=wrong_derivative",),
        FAULTY,
        None,
        "activation: activation 'wrong_derivative': derivative disagrees with central differences at z=",
    ),
    (  # the check's OSError became a warning in Hydra's callback: outputs/ written, exit 1
        ("tracking.uri=sqlite:////tmp/" + "b" * 300 + "/mlflow.db",),
        None,
        None,
        "tracking.uri='sqlite:////tmp/"
        + "b" * 300
        + "/mlflow.db' is invalid: File name too long; choose another path",
    ),
    (
        ("data=csv", "data.path=" + "a" * 300 + ".csv"),
        None,
        None,
        "data: CSV file '{tmp}/"
        + "a" * 300
        + ".csv': File name too long; give the path of a .csv file",
    ),
    (  # both jobs wrote into one folder, and the sweep exited 0
        ("-m", "seed=0,1", "hydra.sweep.dir=s", "hydra.sweep.subdir=same"),
        None,
        None,
        "hydra.sweep.subdir is invalid: jobs 0 and 1 would share the folder '{tmp}/s/same'; make it differ per job, like ${hydra.job.num}_${hydra.job.override_dirname}",
    ),
    (
        ("-m", "seed=0,1", "hydra.sweep.dir=s", "hydra.sweep.subdir=/elsewhere"),
        None,
        None,
        "hydra.sweep.subdir is invalid: it puts job 0's folder at '/elsewhere', outside hydra.sweep.dir; give a relative path inside it, like ${hydra.job.num}_${hydra.job.override_dirname}",
    ),
    (
        ("-m", "seed=0,1", "hydra.sweep.dir=s", "hydra.sweep.subdir=../up_${hydra.job.num}"),
        None,
        None,
        "hydra.sweep.subdir is invalid: it puts job 0's folder at '{tmp}/up_0', outside hydra.sweep.dir; give a relative path inside it, like ${hydra.job.num}_${hydra.job.override_dirname}",
    ),
    (  # the sweep ran until its parent run's first artifact, which left it RUNNING
        ("-m", "seed=0,1"),
        None,
        _file("mlartifacts"),
        "tracking.uri='sqlite:///{tmp}/mlflow.db' is invalid: '{tmp}/mlartifacts', where its runs keep their artifacts, is not a folder; move it away or set tracking.uri to a store in another folder",
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


def _dir(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).mkdir()

    return make


def _bytes(name: str, content: bytes) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_bytes(content)

    return write


def _foreign_sqlite(folder: Path) -> None:
    con = sqlite3.connect(folder / "notes.db")
    con.execute("create table notes (text)")
    con.commit()
    con.close()


LONG = "d" * 300
OPTIONS_ACTIVATION = "identity, leaky_relu, relu, sigmoid, tanh"
CSV_ROWS = "a,b,label\n1,2,0\n2,3,1\n"
STORE_HINT = "use sqlite:///ABSOLUTE/PATH/mlflow.db, http(s)://HOST:PORT, databricks, postgresql://..., mysql://..., mssql://..."

# More of every kind: each field's type and rule, plugin parameters, data whose
# combination cannot work, memory, launcher parameters, folder names, stores.
# A message ending in "..." is matched as a prefix (the rest depends on the machine).
MORE_CASES: list[Case] = [
    (
        ("seed=abc",),
        None,
        None,
        "seed: Value 'abc' of type 'str' could not be converted to Integer",
    ),
    (
        ("seed=1.5",),
        None,
        None,
        "seed: Value '1.5' of type 'float' could not be converted to Integer",
    ),
    (
        ("seed=true",),
        None,
        None,
        "seed: Value 'True' of type 'bool' could not be converted to Integer",
    ),
    (("seed=null",), None, None, "seed: field 'seed' is not Optional"),
    (
        ("model.hidden=4",),
        None,
        None,
        "model.hidden: Invalid value assigned: int is not a ListConfig, list or tuple.",
    ),
    (
        ("model.hidden=[0]",),
        None,
        None,
        "model.hidden=[0] is invalid: layer sizes must be positive integers",
    ),
    (
        ("model.hidden=[2.5]",),
        None,
        None,
        "model.hidden[0]: Value '2.5' of type 'float' could not be converted to Integer",
    ),
    (
        ("model.hidden=[a]",),
        None,
        None,
        "model.hidden[0]: Value 'a' of type 'str' could not be converted to Integer",
    ),
    (("model.hidden=null",), None, None, "model.hidden: field 'model.hidden' is not Optional"),
    (
        ("model.dtype=int32",),
        None,
        None,
        "model.dtype='int32' is invalid: must be float64 or float32",
    ),
    (("model.dtype=1",), None, None, "model.dtype='1' is invalid: must be float64 or float32"),
    (
        ("+model.depth=3",),
        None,
        None,
        "model.depth=3 is invalid: not a setting; model has hidden, dtype",
    ),
    (
        ("train.momentum=0.9",),
        None,
        None,
        "train.momentum: Key 'momentum' not in 'TrainConfig'; see shallownet --help for the keys you can set",
    ),
    (
        ("model=x",),
        None,
        None,
        "model: Invalid type assigned: str is not a subclass of ModelConfig. value: x",
    ),
    (
        ("train.learning_rate=inf",),
        None,
        None,
        "train.learning_rate=inf is invalid: must be a positive number",
    ),
    (
        ("train.learning_rate=nan",),
        None,
        None,
        "train.learning_rate=nan is invalid: must be a positive number",
    ),
    (
        ("train.learning_rate=-inf",),
        None,
        None,
        "train.learning_rate=-inf is invalid: must be a positive number",
    ),
    (
        ("train.learning_rate=true",),
        None,
        None,
        "train.learning_rate: Value 'True' of type 'bool' could not be converted to Float",
    ),
    (
        ("train.learning_rate=[1]",),
        None,
        None,
        "train.learning_rate: Value '[1]' of type 'list' could not be converted to Float",
    ),
    (
        ("train.iterations=-5",),
        None,
        None,
        "train.iterations=-5 is invalid: must be a positive integer",
    ),
    (
        ("train.iterations=abc",),
        None,
        None,
        "train.iterations: Value 'abc' of type 'str' could not be converted to Integer",
    ),
    (
        ("train.iterations=null",),
        None,
        None,
        "train.iterations: field 'train.iterations' is not Optional",
    ),
    (
        ("train.diagnostics_every=0",),
        None,
        None,
        "train.diagnostics_every=0 is invalid: must be a positive integer",
    ),
    (
        ("train.diagnostics_every=-1",),
        None,
        None,
        "train.diagnostics_every=-1 is invalid: must be a positive integer",
    ),
    (
        ("train.diagnostics_every=x",),
        None,
        None,
        "train.diagnostics_every: Value 'x' of type 'str' could not be converted to Integer",
    ),
    (
        ("data.test_samples=-1",),
        None,
        None,
        "data.test_samples=-1 is invalid: must be an integer >= 0",
    ),
    (("data.test_samples=1",), None, None, "data: n_samples must be an integer >= 2, got 1"),
    (
        ("data.test_seed=-3",),
        None,
        None,
        "data.test_seed=-3 is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("data.test_seed=x",),
        None,
        None,
        "data.test_seed='x' is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("data=circles", "data.n_samples=1"),
        None,
        None,
        "data: n_samples must be an integer >= 2, got 1",
    ),
    (
        ("data=circles", "data.noise=-1"),
        None,
        None,
        "data: noise must be a number >= 0 (standard deviation), got -1",
    ),
    (
        ("data=moons", "data.noise=x"),
        None,
        None,
        "data: noise must be a number >= 0 (standard deviation), got 'x'",
    ),
    (("data=blobs", "data.spread=-1"), None, None, "data: spread must be > 0, got -1"),
    (
        ("data=circles", "data.factor=2"),
        None,
        None,
        "data: factor must be in [0, 1) (inner radius / outer radius), got 2",
    ),
    (
        ("data=flower", "+data.foo=1"),
        None,
        None,
        "data.foo=1 is invalid: dataset 'flower' accepts n_samples, seed, test_samples, test_seed",
    ),
    (
        ("data=circles", "data.test_samples=1"),
        None,
        None,
        "data: n_samples must be an integer >= 2, got 1",
    ),
    (
        ("init=normal", "init.scale=nan"),
        None,
        None,
        "init.scale=nan is invalid: must be a finite number",
    ),
    (
        ("init=uniform", "init.scale=-2"),
        None,
        None,
        "init: initializer 'uniform': scale must be >= 0, got -2",
    ),
    (("init=he", "init.gain=x"), None, None, "init.gain='x' is invalid: must be a number"),
    (
        ("init=",),
        None,
        None,
        f"init='' is invalid: unknown option; choose from {OPTIONS_INIT}; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("activation=leaky_relu", "activation.alpha=inf"),
        None,
        None,
        "activation.alpha=inf is invalid: must be a finite number",
    ),
    (
        ("activation=tanh", "+activation.alpha=1"),
        None,
        None,
        "activation.alpha=1 is invalid: activation 'tanh' accepts no parameters",
    ),
    (
        ("experiment=nope",),
        None,
        None,
        "experiment='nope' is invalid: unknown option; choose from custom_plugins, depth, fan_in, hidden_sizes, init_deep, init_grid, main, saturation, symmetry",
    ),
    (
        ("tracking.experiment=",),
        None,
        None,
        "tracking.experiment='' is invalid: must be a non-empty name",
    ),
    (
        (f"tracking.experiment={'e' * 201}",),
        None,
        None,
        f"tracking.experiment='{'e' * 201}' is invalid: must be at most 200 characters, got 201",
    ),
    (
        ("tracking.log_every=0",),
        None,
        None,
        "tracking.log_every=0 is invalid: must be a positive integer",
    ),
    (
        ("tracking.log_every=x",),
        None,
        None,
        "tracking.log_every: Value 'x' of type 'str' could not be converted to Integer",
    ),
    (
        ("tracking.figures=maybe",),
        None,
        None,
        "tracking.figures: Value 'maybe' is not a valid bool (type str)",
    ),
    (
        ("tracking.enabled=x",),
        None,
        None,
        "tracking.enabled: Value 'x' is not a valid bool (type str)",
    ),
    (
        ("tracking.uri=mlruns",),
        None,
        None,
        "tracking.uri='mlruns' is invalid: must be an MLflow URI like sqlite:///abs/path/mlflow.db or http://127.0.0.1:5000",
    ),
    (
        ("tracking.uri=ftp://host/x",),
        None,
        None,
        f"tracking.uri='ftp://host/x' is invalid: MLflow cannot store runs there; {STORE_HINT}",
    ),
    (
        ("tracking.uri=file:///tmp/mlruns",),
        None,
        None,
        f"tracking.uri='file:///tmp/mlruns' is invalid: MLflow cannot store runs there; {STORE_HINT}",
    ),
    (
        ("tracking.uri=s3://bucket/runs",),
        None,
        None,
        f"tracking.uri='s3://bucket/runs' is invalid: MLflow cannot store runs there; {STORE_HINT}",
    ),
    (
        ("tracking.uri=sqlite:///:memory:",),
        None,
        None,
        "tracking.uri='sqlite:///:memory:' is invalid: the path must be absolute (sqlite:////abs/path)",
    ),
    (
        ("tracking.uri=https://127.0.0.1:9",),
        None,
        None,
        "tracking.uri='https://127.0.0.1:9' is unreachable (ConnectionError); start the server (mlflow server --host 127.0.0.1 --port PORT) or use tracking=none",
    ),
    (
        ("tracking.uri=mysql://u@127.0.0.1:9/db",),
        None,
        None,
        "tracking.uri='mysql://u@127.0.0.1:9/db' is invalid: SQLAlchemy reads it as mysql+mysqldb://, whose module MySQLdb is not installed; install it (pip install 'mysqlclient') or name an installed driver in the URI (mysql+<driver>://)",
    ),
    (  # psycopg 3 (what SQLAlchemy 2.1 reads postgresql:// as; the test extras have psycopg2)
        ("tracking.uri=postgresql+psycopg://u@127.0.0.1:9/db",),
        None,
        None,
        "tracking.uri='postgresql+psycopg://u@127.0.0.1:9/db' is invalid: SQLAlchemy reads it as postgresql+psycopg://, whose module psycopg is not installed; install it (pip install 'psycopg[binary]') or name an installed driver in the URI (postgresql+<driver>://)",
    ),
    (
        ("tracking.uri=sqlite:///adir",),
        None,
        _dir("adir"),
        "tracking.uri='sqlite:///{tmp}/adir' is invalid: '{tmp}/adir' is a folder, not an MLflow SQLite file",
    ),
    (
        ("tracking.uri=sqlite:///x.db",),
        None,
        _bytes("x.db", b"hello"),
        "tracking.uri='sqlite:///{tmp}/x.db' is invalid: '{tmp}/x.db' is not an SQLite file; move it away or choose another",
    ),
    (
        ("tracking.uri=sqlite:///notes.db",),
        None,
        _foreign_sqlite,
        "tracking.uri='sqlite:///{tmp}/notes.db' is invalid: '{tmp}/notes.db' is an SQLite database but not an MLflow store",
    ),
    (
        ("tracking.uri=sqlite:///afile/x.db",),
        None,
        _file("afile"),
        "tracking.uri='sqlite:///{tmp}/afile/x.db' is invalid: directory '{tmp}/afile' does not exist",
    ),
    (
        ("-m", "seed=0,1", "tracking.uri=sqlite:///mlflow.db"),
        None,
        _dir("mlflow.db"),
        "tracking.uri='sqlite:///{tmp}/mlflow.db' is invalid: '{tmp}/mlflow.db' is a folder, not an MLflow SQLite file",
    ),
    (
        ("-m", "seed=0,1"),
        None,
        _bytes("mlflow.db", b"not a store"),
        "tracking.uri='sqlite:///{tmp}/mlflow.db' is invalid: '{tmp}/mlflow.db' is not an SQLite file; move it away or choose another",
    ),
    (
        ("model.hidden=[100000000]",),
        None,
        None,
        "model.hidden=[100000000] is invalid: a network this size needs about 1,511.0 GiB of memory on 400 examples of 2 features (float64); this machine has ...",
    ),
    (
        ("-m", "model.hidden=[4],[50000,50000]"),
        None,
        None,
        "model.hidden=[50000, 50000] is invalid: a network this size needs about 131.9 GiB of memory on 400 examples of 2 features (float64); this machine has ...",
    ),
    (
        ("train.iterations=1000000000000",),
        None,
        None,
        "train.iterations=1000000000000 is invalid: recording that many steps (the cost at every step, the diagnostics every 10) needs about 165,775.4 GiB of memory; this machine has ...",
    ),
    (
        ("-m", "seed=0,1", "hydra.launcher.max_batch=0"),
        None,
        None,
        "hydra.launcher.max_batch=0 is invalid: must be a positive integer",
    ),
    (
        ("-m", "seed=0,1", "hydra.launcher.n_jobs=-1"),
        None,
        None,
        "hydra.launcher.n_jobs=-1 is invalid: must be a positive integer or null (one worker per core)",
    ),
    (
        ("-m", "seed=0,1", "hydra.launcher.n_jobs=0"),
        None,
        None,
        "hydra.launcher.n_jobs=0 is invalid: must be a positive integer or null (one worker per core)",
    ),
    (
        ("-m", "seed=0,1", "hydra.launcher.max_batch=x"),
        None,
        None,
        "hydra.launcher.max_batch: Value 'x' of type 'str' could not be converted to Integer",
    ),
    (
        ("-m", "seed=0,1", f"hydra.sweep.subdir={LONG}"),
        None,
        None,
        f"hydra.sweep.subdir is invalid: folder name '{LONG[:40]}'... is 300 bytes, more than this filesystem allows (255); shorten the overrides or set hydra.sweep.subdir=${{hydra.job.num}}",
    ),
    (
        ("-m", "seed=0,1", f"init.scale={'1' * 250}"),
        None,
        None,
        "hydra.sweep.subdir is invalid: folder name '0_init.scale=111111111111111111111111111'... is 270 bytes, more than this filesystem allows (255); shorten the overrides or set hydra.sweep.subdir=${hydra.job.num}",
    ),
    (
        ("-m", "seed=0,1", f"hydra.sweep.dir={LONG}"),
        None,
        None,
        f"hydra.sweep.dir is invalid: folder name '{LONG[:40]}'... is 300 bytes, more than this filesystem allows (255); set a shorter hydra.sweep.dir",
    ),
    (
        (f"hydra.run.dir={LONG}",),
        None,
        None,
        f"hydra.run.dir is invalid: folder name '{LONG[:40]}'... is 300 bytes, more than this filesystem allows (255); set a shorter hydra.run.dir",
    ),
    (
        ("-m", "seed=0,-1"),
        None,
        None,
        "seed=-1 is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("-m", "model.hidden=[4],[0]"),
        None,
        None,
        "model.hidden=[0] is invalid: layer sizes must be positive integers",
    ),
    (
        ("-m", "activation=tanh,nope"),
        None,
        None,
        f"activation='nope' is invalid: unknown option; choose from {OPTIONS_ACTIVATION}; a plugin of your own? name its module in SHALLOWNET_PLUGINS",
    ),
    (
        ("-m", "data=flower,circles", "data.test_samples=1"),
        None,
        None,
        "data: n_samples must be an integer >= 2, got 1",
    ),
    (
        ("-m", "train.iterations=10,0"),
        None,
        None,
        "train.iterations=0 is invalid: must be a positive integer",
    ),
    (
        ("-m", "model.dtype=float64,float8"),
        None,
        None,
        "model.dtype='float8' is invalid: must be float64 or float32",
    ),
    (
        ("-m", "seed=range(0,3)", "train.learning_rate=0"),
        None,
        None,
        "train.learning_rate=0.0 is invalid: must be a positive number",
    ),
    (
        ("-m", "experiment=nope"),
        None,
        None,
        "experiment='nope' is invalid: unknown option; choose from custom_plugins, depth, fan_in, hidden_sizes, init_deep, init_grid, main, saturation, symmetry",
    ),
    (
        ("-m", "init=small,fragile", "init.scale=-1"),
        FAULTY,
        None,
        "init.scale: Key 'scale' is not in struct; see shallownet --help for the keys you can set",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("a,b,label\n"),
        "data: CSV file '{tmp}/data.csv' has no examples (only a header); add one row per example",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("a,b,label\n1,inf,0\n2,3,1\n"),
        "data: CSV file '{tmp}/data.csv': column 'b' has an infinite value 'inf' on line 2; use finite numbers",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("a,b,label\n1,,0\n2,3,1\n"),
        "data: CSV file '{tmp}/data.csv': column 'b' has a missing value on line 2",
    ),
    (
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("label\n1\n0\n"),
        "data: CSV file '{tmp}/data.csv' has no feature columns besides 'label'",
    ),
    (  # one extra value per row: pandas would shift the columns
        ("data=csv", "data.path=data.csv"),
        None,
        _csv("a,b,label\n1,2,0,9\n3,4,1,9\n"),
        "data: CSV file '{tmp}/data.csv': its rows have more values than its header has names; give every column a name (or remove the extra values)",
    ),
    (  # pandas' index column would become a feature
        ("data=csv", "data.path=data.csv"),
        None,
        _csv(",a,label\n0,1,0\n1,2,1\n"),
        "data: CSV file '{tmp}/data.csv': column 1 has no name (an index written by pandas' to_csv? it would be taken for a feature); name it, or write the file with index=False",
    ),
    (
        ("data=csv", "data.path=adir"),
        None,
        _dir("adir"),
        "data: CSV file '{tmp}/adir' is a folder; give the path of a .csv file",
    ),
    (
        ("data=csv", "data.path=data.csv", "data.test_samples=5"),
        None,
        _csv(CSV_ROWS),
        "data.test_samples=5 is invalid: dataset 'csv' has no n_samples to draw a test set with; use 0 and hold out rows of your own",
    ),
    (
        ("tracking.uri=databricks",),
        None,
        None,
        "tracking.uri='databricks' is unreachable: no Databricks credentials found; set DATABRICKS_HOST and DATABRICKS_TOKEN (pip install databricks-sdk) or use another store",
    ),
    (
        ("-m", "seed=0,1", "tracking.uri=databricks://nowhere"),
        None,
        None,
        "tracking.uri='databricks://nowhere' is unreachable: no Databricks credentials found; set DATABRICKS_HOST and DATABRICKS_TOKEN (pip install databricks-sdk) or use another store",
    ),
    (
        ("seed=4294967296",),
        None,
        None,
        "seed=4294967296 is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("data.seed=-1",),
        None,
        None,
        "data.seed=-1 is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("-m", "data.seed=1,1.5"),
        None,
        None,
        "data.seed=1.5 is invalid: must be an integer from 0 to 4294967295",
    ),
    (
        ("-m", "seed=range(0)"),
        None,
        None,
        "'seed=range(0)' is invalid: it gives no value to sweep; give at least one value (shallownet --help lists the options)",
    ),
    (
        ("-m", "init=glob(zzz*)"),
        None,
        None,
        "'init=glob(zzz*)' is invalid: it gives no value to sweep; give at least one value (shallownet --help lists the options)",
    ),
    (
        ("~seed",),
        None,
        None,
        "seed is missing (deleted with ~seed?): every job needs it; set it instead (seed=...; see shallownet --help)",
    ),
    (
        ("-m", "init=zeros,small", "~seed"),
        None,
        None,
        "seed is missing (deleted with ~seed?): every job needs it; set it instead (seed=...; see shallownet --help)",
    ),
    (
        ("-m", "~model"),
        None,
        None,
        "model is missing (deleted with ~model?): every job needs it; set it instead (model.hidden=...; see shallownet --help)",
    ),
    (
        ("seed=${nope}",),
        None,
        None,
        "seed: cannot resolve its value (Interpolation key 'nope' not found); give a value",
    ),
    (
        ("-m", "init=zeros,small", "seed=${oc.env:SHALLOWNET_SURELY_UNSET}"),
        None,
        None,
        "seed: cannot resolve its value (KeyError raised while resolving interpolation: \"Environment variable 'SHALLOWNET_SURELY_UNSET' not found\"); give a value",
    ),
    (
        ("-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"),
        None,
        None,
        "hydra.launcher.n_jobs=0 is invalid: must be an integer other than 0 (-1: every core)",
    ),
    (
        ("-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.backend=nonsense"),
        None,
        None,
        "hydra.launcher.backend='nonsense' is invalid: must be loky or multiprocessing or threading",
    ),
    (
        ("-m", "seed=0,1", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=-1"),
        None,
        None,
        "hydra.launcher.timeout_min=-1 is invalid: must be a positive integer",
    ),
    (
        ("-m", "seed=0,1", "hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=0"),
        None,
        None,
        "hydra.launcher.cpus_per_task=0 is invalid: must be a positive integer",
    ),
    (  # refused before it is generated (which took minutes, and was killed)
        ("data.n_samples=1000000000000",),
        None,
        None,
        "data.n_samples=1000000000000 is invalid: generating a data set that large takes about 89,407.0 GiB of memory; ...",
    ),
    (  # root may write anywhere, but no folder can be made in /proc: tried, not assumed
        ("hydra.run.dir=/proc/x",),
        None,
        None,
        "hydra.run.dir='/proc/x' is invalid: cannot create it ('/proc' is not a writable directory); run from a writable directory or set hydra.run.dir",
    ),
    (
        ("-m", "seed=0,1", "hydra.sweep.dir=/proc/x"),
        None,
        None,
        "hydra.sweep.dir='/proc/x' is invalid: cannot create it ('/proc' is not a writable directory); run from a writable directory or set hydra.sweep.dir",
    ),
    (
        ("data=csv", "data.path=data.csv", "+data.sep=x"),
        None,
        _csv(CSV_ROWS),
        "data.sep='x' is invalid: dataset 'csv' accepts label, path, test_samples, test_seed",
    ),
]


def refusal(args: tuple[str, ...], folder: Path) -> str:
    """The line ``shallownet ARGS`` prints on stderr, computed in process: Hydra's config
    loader composes the config as the command does, then the command's own checks run."""
    multirun = args[:1] == ("-m",)
    overrides = list(args[1:] if multirun else args)
    store_configs()
    register_hydra_plugins()
    GlobalHydra.instance().clear()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        try:
            mode = RunMode.MULTIRUN if multirun else RunMode.RUN
            config = loader.load_configuration("config", overrides, mode)
            if multirun:  # as the sweeper does: its launcher first, then the plan
                instantiate(config.hydra.launcher)
                params = {str(k): str(v) for k, v in (config.hydra.sweeper.params or {}).items()}
                # unresolved, as Hydra's multirun reads them (seed=${oc.env:X} stays as typed)
                typed = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
                assert isinstance(typed, list)
                task_overrides = [str(o) for o in typed]
                plan(config, loader, params, task_overrides)
            else:
                check_run(config)
        except USER_ERRORS as exc:
            return "shallownet: error: " + one_line(exc)
    pytest.fail(f"{args} was not refused")


def _check_message(line: str, message: str, folder: Path) -> None:
    expected = "shallownet: error: " + message.replace("{tmp}", str(folder))
    if message.endswith("at z="):  # the point where the derivative disagrees varies
        assert line.startswith(expected), line
    elif message.endswith("..."):  # the rest depends on the machine
        assert line.startswith(expected[:-3]), line
    else:
        assert line == expected


ALL_CASES = CASES + MORE_CASES


def test_the_table_covers_over_a_hundred_bad_inputs() -> None:
    assert len({case[:3] for case in ALL_CASES}) == len(ALL_CASES) >= 100


@pytest.mark.parametrize(("args", "plugins", "setup", "message"), ALL_CASES)
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
    ("-m", "seed=0,1", "hydra.launcher.max_batch=0"),
    ("-m", "seed=0,1"),  # over an mlflow.db that is not an SQLite file
    ("model.hidden=[100000000]",),
    ("-m", "seed=range(0)"),
    ("-m", "init=zeros,small", "~seed"),
    ("tracking.uri=databricks",),
    ("-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"),
    ("hydra.run.dir=/proc/x",),
    ("tracking.uri=sqlite:////tmp/" + "b" * 300 + "/mlflow.db",),  # Hydra wrote outputs/
}
COMMAND_LINE = [case for case in ALL_CASES if case[0] in ON_THE_COMMAND_LINE]

# Another sweeper's search, refused before it starts (issue "Nothing lost, round four": each
# ended with exit 1 after the sweeper began, or wrote nothing and exited 1 wrongly)
OPTUNA = ("-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "train.iterations=50")
RATES = "train.learning_rate=interval(0.1,2.0)"
SEARCHES: list[Case] = [
    (
        (*OPTUNA, RATES, "hydra.sweeper.n_trials=0"),
        None,
        None,
        "hydra.sweeper.n_trials=0 is invalid: must be an integer >= 1",
    ),
    (
        (*OPTUNA, RATES, "hydra.sweeper.n_trials=-1"),
        None,
        None,
        "hydra.sweeper.n_trials=-1 is invalid: must be an integer >= 1",
    ),
    (
        (*OPTUNA, RATES, "hydra.sweeper.n_jobs=0"),
        None,
        None,
        "hydra.sweeper.n_jobs=0 is invalid: must be an integer >= 1",
    ),
    (
        (*OPTUNA, RATES, "hydra.sweeper.direction=sideways"),
        None,
        None,
        "hydra.sweeper.direction='sideways' is invalid: must be minimize or maximize (of a job's final cost)",
    ),
    (
        (*OPTUNA, "train.learning_rate=interval(2.0,0.1)"),
        None,
        None,
        "train.learning_rate=interval(2.0,0.1) is invalid: an interval's lower bound must be below its upper one",
    ),
    (
        (*OPTUNA, "train.learning_rate=tag(log,interval(0,1))"),
        None,
        None,
        "train.learning_rate=tag(log,interval(0,1)) is invalid: a log-scaled interval must lie above 0 (its lower bound is 0)",
    ),
    (
        (*OPTUNA, "train.learning_rate=interval(-2,-1)"),
        None,
        None,
        "train.learning_rate=interval(-2,-1) is invalid: no value in it is allowed (must be a positive number)",
    ),
    (
        (*OPTUNA, RATES, "tracking.skip_finished=true"),
        None,
        None,
        "tracking.skip_finished=true is invalid for a search (hydra/sweeper=optuna): it draws its trials anew, none to skip; leave it out",
    ),
]

# Refused before Hydra composes anything: only the real command shows these.
BEFORE_HYDRA: list[Case] = [
    (  # Hydra looks for conf/init/<option>.yaml: a name the system refuses ('cannot write')
        ("init=" + "a" * 300,),
        None,
        None,
        "init='"
        + "a" * 40
        + "'... is invalid: unknown option; choose from constant, he, huge, large, normal, small, standard, uniform, xavier, zeros",
    ),
    (
        ("activation=null",),
        None,
        None,
        "activation=null is invalid: a config group needs one of its options; see shallownet --help",
    ),
    (
        ("seed=0",),
        "broken.py",
        _csv_named("broken.py", "def f(:\n"),
        "SHALLOWNET_PLUGINS: plugin module '{tmp}/broken.py' failed to import (line 1: invalid syntax); fix it or remove it",
    ),
    (
        ("seed=0",),
        "raises.py",
        _csv_named("raises.py", "raise RuntimeError('not today')\n"),
        "SHALLOWNET_PLUGINS: plugin module '{tmp}/raises.py' failed to import (RuntimeError: not today); fix it or remove it",
    ),
    (
        ("seed=0",),
        "needs.py",
        _csv_named("needs.py", "import a_module_nobody_has\n"),
        "SHALLOWNET_PLUGINS: plugin module '{tmp}/needs.py' failed to import (ModuleNotFoundError: No module named 'a_module_nobody_has'); fix it or remove it",
    ),
    (
        ("seed=0",),
        "no_such_plugin_module",
        None,
        "SHALLOWNET_PLUGINS: cannot import plugin module 'no_such_plugin_module' (No module named 'no_such_plugin_module'); give a module on PYTHONPATH or a path to a .py file",
    ),
]


@pytest.mark.parametrize(
    ("args", "plugins", "setup", "message"),
    COMMAND_LINE
    + BEFORE_HYDRA
    + [pytest.param(*case, marks=pytest.mark.slow) for case in SEARCHES],  # Optuna's import
)
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


@pytest.mark.parametrize("command", ["shallownet", "shallownet-report"])
def test_a_deleted_working_folder_is_refused_in_one_line(command: str, tmp_path: Path) -> None:
    """Run from a folder deleted while the shell was in it: one line, exit 2 (not a
    traceback from the first ``os.getcwd()``), and nothing written anywhere."""
    (tmp_path / "gone").mkdir()
    result = subprocess.run(
        ["bash", "-c", 'cd gone && rmdir "$PWD" && exec "$0"', str(BIN / command)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{command}: error: the current folder is invalid: it no longer exists (it was "
        "deleted while the shell was in it); cd to an existing folder and run the command there"
    ]
    assert written(tmp_path) == []


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


@pytest.mark.parametrize(
    ("value", "extra"),
    [("joblib", "parallel"), ("submitit_local", "cluster"), ("submitit_slurm", "cluster")],
)
def test_a_launcher_of_an_extra_names_the_extra_to_install(value: str, extra: str) -> None:
    """Without the extra installed, Hydra knows only basic and batched: the line says how
    to get the launcher typed (Hydra's own exception, as composition raises it)."""
    from hydra.errors import MissingConfigException

    exc = MissingConfigException(
        "Could not find 'hydra/launcher/...'",
        missing_cfg_file=f"hydra/launcher/{value}",
        options=["batched", "basic"],
    )
    assert one_line(exc) == (
        f"hydra/launcher={value!r} is invalid: unknown option; choose from basic, batched; "
        f"it comes with an extra: pip install 'shallownet[{extra}]'"
    )


def test_the_extras_named_are_those_pyproject_declares() -> None:
    """messages.EXTRAS names the extra that installs each launcher: the extras of the
    installed package (pyproject.toml), so the hint cannot drift from them."""
    from importlib.metadata import requires

    from shallownet.messages import EXTRAS

    declared = requires("shallownet") or []
    packages = {
        "joblib": "hydra-joblib-launcher",
        "submitit": "hydra-submitit-launcher",
        "optuna": "hydra-optuna-sweeper",
    }
    for (_, launcher), extra in EXTRAS.items():
        package = packages[launcher.partition("_")[0]]
        assert any(req.startswith(package) and f'extra == "{extra}"' in req for req in declared), (
            launcher,
            extra,
            declared,
        )
