"""The configuration schema (Hydra's ConfigStore) and its one validation step.

The YAML tree in ``conf/`` fills in this schema. Plugin groups (``data``,
``init``, ``activation``) are a ``name`` (the registry key) plus the plugin's
own parameters, so ``init=he init.gain=2`` reads as it should. Every
registered plugin is also stored as an option of its group, so anything
registered, built in, from an entry point or from a module named in
``SHALLOWNET_PLUGINS``, is selectable and sweepable (``'init=glob(*)'``).

:func:`validate` turns a composed config into :class:`Settings`, checking
every field once, before any training, with one-line messages that name the
field, the bad value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from . import datasets
from .activations import activations
from .errors import ConfigError
from .initializers import initializers
from .registry import PluginError, Registry, UnknownPluginError, keyword_parameters

CONFIG_PACKAGE = "shallownet.conf"


# -- schema ---------------------------------------------------------------------


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [4])
    dtype: str = "float64"


@dataclass
class TrainConfig:
    learning_rate: float = 1.2
    iterations: int = 10_000
    diagnostics_every: int = 10


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str | None = None  # None: sqlite:///<directory the command runs in>/mlflow.db
    experiment: str = "shallownet"
    log_every: int | None = None  # None: about 100 points per curve
    figures: bool = True
    skip_finished: bool = False


@dataclass
class Config:
    seed: int = 0
    data: Any = MISSING
    init: Any = MISSING
    activation: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def _yaml_options(group: str) -> set[str]:
    folder = resources.files(CONFIG_PACKAGE).joinpath(group)
    return {p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")}


def plugin_parameters(group: str, name: str) -> dict[str, Any]:
    """A plugin's parameters with their defaults, as its config node holds them."""
    if group == "init":
        return initializers.parameters(name)
    if group == "activation":
        return dict(activations.get(name).params)
    return {**keyword_parameters(_DATASETS.get(name)), **DATA_SPLIT_KEYS}


# Keys of every data node that describe the test set rather than the generator:
# a held-out set of ``test_samples`` examples drawn from the same generator with
# ``test_seed`` (default: the data seed + 1), as the course does for circles.
DATA_SPLIT_KEYS: dict[str, Any] = {"test_samples": 0, "test_seed": None}


_DATASETS: Registry[Any] = datasets._registry
_REGISTRIES: dict[str, Registry[Any]] = {
    "init": initializers,
    "activation": activations,
    "data": _DATASETS,
}


def store_configs() -> None:
    """Put the schema and every registered plugin into Hydra's ConfigStore.

    Plugins that have a YAML file in ``conf/<group>/`` are described there;
    every other registered plugin gets a node ``{name: <key>, <param>: <default>}``.
    Call again after registering plugins (it only adds what is missing).
    """
    cs = ConfigStore.instance()
    cs.store(name="schema", node=Config)
    for group, registry in _REGISTRIES.items():
        yaml = _yaml_options(group)
        for name in registry.names():
            if name not in yaml:
                node = {"name": name, **plugin_parameters(group, name)}
                cs.store(group=group, name=name, node=node, provider="shallownet")


# -- validation -----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A plugin by registry key, with its parameters."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TrackingSettings:
    uri: str
    experiment: str
    log_every: int
    figures: bool
    skip_finished: bool


@dataclass(frozen=True)
class Settings:
    """A validated run configuration."""

    seed: int
    data: Choice
    test_samples: int
    test_seed: int | None
    init: Choice
    activation: Choice
    hidden: tuple[int, ...]
    dtype: str
    learning_rate: float
    iterations: int
    diagnostics_every: int
    tracking: TrackingSettings | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _invalid(key: str, value: object, allowed: str) -> NoReturn:
    msg = f"{key}={value!r} is invalid: {allowed}"
    raise ConfigError(msg)


def _positive_int(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        _invalid(key, value, "must be a positive integer")
    return value


def default_log_every(iterations: int, diagnostics_every: int) -> int:
    """About 100 points per curve, on steps where diagnostics are recorded."""
    return diagnostics_every * max(1, math.ceil(iterations / (100 * diagnostics_every)))


def _log_every(value: object, iterations: int, diagnostics_every: int) -> int:
    if value is not None:
        return _positive_int("tracking.log_every", value)
    return default_log_every(iterations, diagnostics_every)


def _choice(group: str, node: object) -> Choice:
    registry = _REGISTRIES[group]
    if not isinstance(node, Mapping) or "name" not in node:
        _invalid(group, node, f"pick an option of the {group} group, e.g. {group}=...")
    params = dict(node)
    name = params.pop("name")
    try:
        registry.get(name)
    except UnknownPluginError as exc:
        msg = f"{group}.name: {exc}"
        raise ConfigError(msg) from None
    accepted = plugin_parameters(group, name)
    for key, value in params.items():
        if key not in accepted:
            allowed = ", ".join(sorted(accepted)) or "no parameters"
            _invalid(f"{group}.{key}", value, f"{registry.kind} {name!r} accepts {allowed}")
        default = accepted[key]
        if _is_number(default) and not _is_number(value):
            _invalid(f"{group}.{key}", value, "must be a number")
        if _is_number(value) and not math.isfinite(value):
            _invalid(f"{group}.{key}", value, "must be a finite number")
    return Choice(name=name, params=params)


def _check_plugin_call(group: str, choice: Choice, call: Callable[[], object]) -> None:
    try:
        call()
    except (PluginError, ValueError, TypeError) as exc:
        msg = f"{group}: {exc}"
        raise ConfigError(msg) from None
    except Exception as exc:  # a plugin that raises while being checked is a broken plugin
        msg = f"{group}: plugin {choice.name!r} raised {type(exc).__name__}: {exc}"
        raise ConfigError(msg) from None


def validate(cfg: DictConfig, launch_dir: Path) -> Settings:
    """Check every field of a composed config; return typed settings or raise ConfigError."""
    ours = [str(key) for key in cfg if key != "hydra"]  # Hydra's own node is Hydra's business
    masked = OmegaConf.masked_copy(cfg, ours)
    for key in sorted(OmegaConf.missing_keys(masked)):
        _invalid(key, "???", f"a value is required; add {key}=... to the command")
    raw = OmegaConf.to_container(masked, resolve=True)
    assert isinstance(raw, dict)

    seed = raw.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        _invalid("seed", seed, "must be an integer >= 0")

    model, train, tracking = raw["model"], raw["train"], raw["tracking"]
    hidden = model["hidden"]
    if not isinstance(hidden, list | ListConfig) or not hidden:
        _invalid(
            "model.hidden", hidden, "must be a non-empty list of layer sizes like [4] or [10,5]"
        )
    if not all(_is_int(n) and n > 0 for n in hidden):
        _invalid("model.hidden", hidden, "layer sizes must be positive integers")
    if model["dtype"] not in ("float64", "float32"):
        _invalid("model.dtype", model["dtype"], "must be float64 or float32")

    lr = train["learning_rate"]
    if not _is_number(lr) or not math.isfinite(lr) or lr <= 0:
        _invalid("train.learning_rate", lr, "must be a positive number")
    iterations = _positive_int("train.iterations", train["iterations"])
    diagnostics_every = _positive_int("train.diagnostics_every", train["diagnostics_every"])

    data = _choice("data", raw["data"])
    test_samples = data.params.pop("test_samples", 0)
    test_seed = data.params.pop("test_seed", None)
    if not _is_int(test_samples) or test_samples < 0:
        _invalid("data.test_samples", test_samples, "must be an integer >= 0")
    if test_seed is not None and not _is_int(test_seed):
        _invalid("data.test_seed", test_seed, "must be an integer or null")
    init = _choice("init", raw["init"])
    activation = _choice("activation", raw["activation"])
    if data.name == "csv" and "path" in data.params and data.params["path"] is not None:
        data.params["path"] = str((launch_dir / str(data.params["path"])).resolve())

    # Plugins check their own parameters: call them once, now, on something small.
    _check_plugin_call("data", data, lambda: datasets.load(data.name, **data.params))
    _check_plugin_call("init", init, lambda: initializers.check(init.name, **init.params))
    _check_plugin_call(
        "activation", activation, lambda: activations.check(activation.name, **activation.params)
    )

    tracking_settings = None
    if tracking["enabled"]:
        experiment = tracking["experiment"]
        if not isinstance(experiment, str) or not experiment.strip():
            _invalid("tracking.experiment", experiment, "must be a non-empty name")
        uri = tracking["uri"] or f"sqlite:///{(launch_dir / 'mlflow.db').resolve()}"
        if not isinstance(uri, str) or ("://" not in uri and not uri.startswith("databricks")):
            _invalid(
                "tracking.uri",
                uri,
                "must be an MLflow URI like sqlite:///abs/path/mlflow.db or http://127.0.0.1:5000",
            )
        tracking_settings = TrackingSettings(
            uri=uri,
            experiment=experiment,
            log_every=_log_every(tracking["log_every"], iterations, diagnostics_every),
            figures=bool(tracking["figures"]),
            skip_finished=bool(tracking["skip_finished"]),
        )

    return Settings(
        seed=int(seed),
        data=data,
        test_samples=int(test_samples),
        test_seed=test_seed,
        init=init,
        activation=activation,
        hidden=tuple(int(n) for n in hidden),
        dtype=str(model["dtype"]),
        learning_rate=float(lr),
        iterations=iterations,
        diagnostics_every=diagnostics_every,
        tracking=tracking_settings,
    )
