"""The config tree composed with Hydra's compose API, and the validation step."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

import shallownet as sn
import shallownet.settings
from shallownet.config import store_configs
from shallownet.datasets import Array as DataArray
from shallownet.errors import ConfigError
from shallownet.network import Array
from shallownet.plan import axes, first_refused, plan
from shallownet.plugin_modules import import_plugin_modules
from shallownet.schema import ModelConfig, TrainConfig
from shallownet.settings import Settings, text
from shallownet.validate import validate

from .cli_helpers import CUSTOM_PLUGINS

PRESETS = sorted(
    p.stem for p in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml")
)


@pytest.fixture(scope="module", autouse=True)
def _custom_plugins() -> Iterator[None]:
    """orthogonal and softsign, for the custom_plugins preset; removed after this module."""
    (module,) = import_plugin_modules(str(CUSTOM_PLUGINS))
    yield
    sn.initializers.unregister("orthogonal")
    sn.activations.unregister("softsign")
    del sys.modules[module.__name__]


@pytest.fixture
def hydra_conf() -> Iterator[None]:
    store_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        yield


def _compose(*overrides: str) -> DictConfig:
    """The config as the command line composes it, with Hydra's node (the options chosen)."""
    return compose("config", overrides=list(overrides), return_hydra_config=True)


def _settings(*overrides: str) -> Settings:
    return validate(_compose(*overrides), Path.cwd())


@pytest.mark.usefixtures("hydra_conf")
def test_defaults_are_the_course_network(tmp_path: Path) -> None:
    s = validate(_compose(), tmp_path)
    assert s.data.name == "flower"
    assert s.hidden == (4,)
    assert s.activation.name == "tanh"
    assert (s.init.name, s.init.params) == ("normal", {"scale": 0.01})
    assert (s.learning_rate, s.iterations, s.seed) == (1.2, 10_000, 0)
    assert s.tracking is not None
    assert s.tracking.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert s.tracking.experiment == "shallownet"
    assert s.tracking.log_every is None  # curves dense early, sparse later (on_curve)


@pytest.mark.usefixtures("hydra_conf")
def test_stable_override_keys() -> None:
    s = _settings(
        "data=circles",
        "init=he",
        "activation=leaky_relu",
        "seed=7",
        "model.hidden=[10,5]",
        "train.learning_rate=0.01",
        "train.iterations=15",
        "tracking.uri=http://127.0.0.1:1",
        "tracking.experiment=mine",
        "init.gain=2",
        "activation.alpha=0.2",
    )
    assert s.data.name == "circles"
    assert s.init.params == {"gain": 2}
    assert s.activation.params == {"alpha": 0.2}
    assert (s.seed, s.hidden, s.learning_rate, s.iterations) == (7, (10, 5), 0.01, 15)
    assert s.tracking is not None
    assert (s.tracking.uri, s.tracking.experiment) == ("http://127.0.0.1:1", "mine")
    assert (s.test_samples, s.test_seed) == (100, 2)


@pytest.mark.usefixtures("hydra_conf")
def test_tracking_none() -> None:
    assert _settings("tracking=none").tracking is None


@pytest.mark.usefixtures("hydra_conf")
def test_every_registered_plugin_is_an_option_with_its_parameters() -> None:
    for name in sn.initializers.names():
        cfg = _compose(f"init={name}")
        assert validate(cfg, Path.cwd()).init.name == name
    for name in sn.activations.names():
        assert _settings(f"activation={name}").activation.name == name
    assert _settings("init=orthogonal", "init.gain=2").init.params == {"gain": 2}


def test_a_plugin_registered_later_becomes_an_option() -> None:
    @sn.initializers.register("ones_for_test")
    def ones(shape: tuple[int, int], rng: object, value: float = 1.0) -> Array:
        return np.full(shape, value)

    store_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        s = _settings("init=ones_for_test", "init.value=0.5")
    assert s.init == sn.settings.Choice("ones_for_test", {"value": 0.5})
    sn.initializers.unregister("ones_for_test")
    store_configs()  # the option goes with the plugin
    assert "ones_for_test.yaml" not in ConfigStore.instance().repo["init"]


@pytest.mark.usefixtures("hydra_conf")
@pytest.mark.parametrize(
    "preset",  # one in the fast suite; every one with the slow tests
    [p if p == "symmetry" else pytest.param(p, marks=pytest.mark.slow) for p in PRESETS],
)
def test_every_preset_composes_and_validates(preset: str) -> None:
    cfg = compose("config", overrides=[f"experiment={preset}"], return_hydra_config=True)
    params = {str(k): str(v) for k, v in cfg.hydra.sweeper.params.items()}
    assert params, f"{preset} sweeps nothing"
    loader = GlobalHydra.instance().config_loader()
    axes, jobs = plan(cfg, loader, params, [f"experiment={preset}"])  # every job, validated
    assert len(jobs) >= 4
    assert [axis.key for axis in axes if axis.swept] == list(params)
    assert len({job.settings.config_hash() for job in jobs}) == len(jobs)


def test_presets_open_with_their_command() -> None:
    for path in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml"):
        lines = path.read_text().splitlines()
        assert lines[0] == "# @package _global_", path.name
        commands = [
            line
            for line in lines[:6]
            if line.lstrip("# ").startswith(("shallownet", "SHALLOWNET"))
        ]
        assert commands, f"{path.name} does not open with the command that runs it"
        assert f"experiment={path.stem}" in commands[0] or path.stem == "main"


BAD = [
    (
        ("train.learning_rate=-1",),
        r"^train\.learning_rate=-1\.0 is invalid: must be a positive number$",
    ),
    (
        ("train.learning_rate=0",),
        r"^train\.learning_rate=0\.0 is invalid: must be a positive number$",
    ),
    (("train.iterations=0",), r"^train\.iterations=0 is invalid: must be a positive integer$"),
    (("model.hidden=[]",), r"^model\.hidden=\[\] is invalid: must be a non-empty list"),
    (
        ("model.hidden=[4,0]",),
        r"^model\.hidden=\[4, 0\] is invalid: layer sizes must be positive integers$",
    ),
    (("seed=-3",), r"^seed=-3 is invalid: must be an integer from 0 to 4294967295$"),
    (("init.scale=-1",), r"^init: initializer 'normal': scale must be >= 0, got -1$"),
    (("init.scale=abc",), r"^init\.scale='abc' is invalid: must be a number$"),
    (
        ("init=zeros", "+init.scale=1"),
        r"^init\.scale=1 is invalid: initializer 'zeros' accepts no parameters$",
    ),
    (
        ("data.noise=-1", "data=circles"),
        r"^data: noise must be a number >= 0 \(standard deviation\), got -1$",
    ),
    (("model.dtype=float16",), r"^model\.dtype='float16' is invalid: must be float64 or float32$"),
    (
        ("tracking.uri=mlflow.db",),
        r"^tracking\.uri='mlflow\.db' is invalid: must be an MLflow URI",
    ),
    (
        ("tracking.experiment=' '",),
        r"^tracking\.experiment=' ' is invalid: must be a non-empty name$",
    ),
]


@pytest.mark.usefixtures("hydra_conf")
@pytest.mark.parametrize(("overrides", "message"), BAD)
def test_bad_values_give_one_line(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _settings(*overrides)
    assert "\n" not in str(info.value)


def _changed(value: object) -> object:
    """Another valid value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if isinstance(value, list):
        return [n + 1 for n in value]
    if value is None:
        return 7
    return {"float64": "float32"}[str(value)]


@pytest.mark.usefixtures("hydra_conf")
def test_every_setting_reaches_the_params_the_hash_and_the_batch_key() -> None:
    base = _settings("data=circles")  # circles has every kind of data parameter
    schema = {
        f"{s}.{f.name}"
        for s, c in (("model", ModelConfig), ("train", TrainConfig))
        for f in fields(c)
    }
    assert schema | {"seed", "data.test_seed"} <= set(base.record)
    for key, value in base.record.items():
        if key in ("data", "init", "activation") or key.endswith(".name"):
            continue  # options, tested below
        new = _changed(value)
        changed = _settings("data=circles", f"{key}={text(new)}")
        assert changed.params()[key] == text(new), key
        assert changed.params()[key] != base.params()[key], key
        assert changed.config_hash() != base.config_hash(), key
        same_batch = changed.batch_key() == base.batch_key()
        assert same_batch == (key in ("seed", "train.learning_rate") or key.startswith("init.")), (
            key
        )
    options = _settings("data=circles", "init=large")
    assert options.config_hash() != base.config_hash()
    assert options.batch_key() == base.batch_key()  # initializers can be trained together


@pytest.mark.usefixtures("hydra_conf")
def test_params_use_the_names_typed() -> None:
    params = _settings("init=small").params()
    assert list(params)[:4] == ["seed", "data", "data.name", "data.n_samples"]
    assert (params["init"], params["init.name"], params["init.scale"]) == (
        "small",
        "normal",
        "0.01",
    )
    assert params["activation"] == "tanh"
    assert params["model.hidden"] == "[4]"
    assert _settings("init=he").params()["init"] == "he"
    # a registered plugin without a preset is typed, stored and reported by its key
    assert _settings("init=normal", "init.scale=0.5").params()["init"] == "normal"


def test_a_value_its_rule_refuses_is_found_without_composing_the_grid() -> None:
    """The first job in the grid's order with a value its field's rule refuses (a sweep
    of many jobs with one bad value is refused without composing them all); group
    choices and values the rule cannot read are left to composition."""
    parser = OverridesParser.create()
    typed = ["init=zeros,small", "seed=range(3)", "train.learning_rate=1,-1"]
    sweep = axes({}, typed, parser)
    assert first_refused(sweep, {"init"}) == ["init=zeros", "seed=0", "train.learning_rate=-1"]
    assert first_refused(axes({}, typed[:2], parser), {"init"}) is None
    assert first_refused(axes({}, ["init=nope", "seed=0,1"], parser), {"init"}) is None


@pytest.mark.usefixtures("hydra_conf")
def test_a_plugin_that_ignores_sigterm_leaves_the_command_stoppable(tmp_path: Path) -> None:
    """The contract check runs plugin code in the launching process: a plugin that sets
    SIGTERM to SIG_IGN made the sweep unstoppable (issue "Nothing lost, round four")."""
    import signal

    from shallownet import interrupts

    def deaf(z: Array) -> Array:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return np.tanh(z)

    @sn.datasets.register("deaf_data")
    def deaf_data(n_samples: int = 40, seed: int = 1) -> tuple[DataArray, DataArray]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return sn.datasets.load("moons", n_samples=n_samples, seed=seed)

    sn.activations.register("deaf", sn.Activation(forward=deaf, derivative=lambda z, a: 1 - a**2))
    store_configs()
    for chosen in ("activation=deaf", "data=deaf_data"):
        with interrupts.installed():
            validate(_compose(chosen), tmp_path)  # checks plugins, data, memory
            assert signal.getsignal(signal.SIGTERM) is interrupts._raise, chosen


@pytest.mark.parametrize(
    ("typed", "size"),
    [
        ("seed=3", 1),
        ("init=zeros,small,large", 3),
        ("seed=range(0,4294967295)", 4_294_967_295),
        ("seed=range(10,0,-3)", 4),
        ("train.learning_rate=range(0.5,2,0.25)", 6),
        ("seed=shuffle(range(5))", 5),
        ("seed=range(5,0)", 0),
    ],
)
def test_a_sweeps_size_is_known_before_its_values_are_listed(typed: str, size: int) -> None:
    from shallownet.plan import _size

    (override,) = OverridesParser.create().parse_overrides([typed])
    assert _size(override) == size
    if override.is_sweep_override() and size < 100:  # as many as Hydra lists
        assert len(list(override.sweep_string_iterator())) == size


def test_a_grid_of_billions_of_jobs_is_refused_before_it_is_listed() -> None:
    """It grew to 6.4 GB in 160 s until killed (issue "Nothing lost, round four")."""
    parser = OverridesParser.create()
    with pytest.raises(
        ConfigError,
        match=r"^seed=range\(0,4294967295\) is invalid: it makes a sweep of 8,589,934,590 jobs, "
        r"which needs about [\d,.]+ GiB of memory to plan; .* available, room for about "
        r"[\d,]+ jobs; sweep fewer values or split the sweep into several commands$",
    ):
        axes({}, ["init=zeros,small", "seed=range(0,4294967295)"], parser)
    # the product of axes that are each small
    with pytest.raises(ConfigError, match=r"^seed=range\(100000\) is invalid: it makes a sweep"):
        axes({}, ["seed=range(100000)", "train.iterations=range(1,100001)"], parser)
    assert len(axes({}, ["seed=range(1000)", "init=zeros,small"], parser)[0].values) == 1000


def _raises(exc: BaseException) -> Callable[[Array], Array]:
    def forward(z: Array) -> Array:
        raise exc

    return forward


@pytest.mark.usefixtures("hydra_conf")
@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (KeyboardInterrupt(), "KeyboardInterrupt (no signal was received)"),
        (SystemExit(0), "SystemExit(0)"),
    ],
    ids=["KeyboardInterrupt", "SystemExit"],
)
def test_a_plugin_that_exits_while_checked_is_refused_not_taken_for_ctrl_c(
    raised: BaseException, said: str, tmp_path: Path
) -> None:
    """The contract check runs plugin code in the launching process: a KeyboardInterrupt
    it raises stopped the command as Ctrl-C does (exit 130)."""
    sn.activations.register(
        "exiting", sn.Activation(forward=_raises(raised), derivative=lambda z, a: 1 - a**2)
    )
    store_configs()
    with pytest.raises(ConfigError) as refused:
        validate(_compose("activation=exiting"), tmp_path)
    assert str(refused.value) == (
        f"activation: plugin 'exiting' raised PluginExit: plugin code raised {said}"
    )
