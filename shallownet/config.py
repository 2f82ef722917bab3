"""The configuration schema (Hydra's ConfigStore), its rules, and the settings record.

The YAML tree in ``conf/`` fills in this schema. Plugin groups (``data``,
``init``, ``activation``) are a ``name`` (the registry key) plus the plugin's
own parameters, so ``init=he init.gain=2`` reads as it should. Every
registered plugin is also stored as an option of its group, so anything
registered, built in, from an entry point or from a module named in
``SHALLOWNET_PLUGINS``, is selectable and sweepable (``'init=glob(*)'``).

:func:`settings` turns a composed config into :class:`Settings`: one flat,
ordered record under the keys users type (``init=small`` is recorded as
``init: small`` beside ``init.name: normal`` and ``init.scale: 0.01``). MLflow
params, run names, the config hash, the batch key and report columns all
derive from that record, so a setting added to the schema reaches all of
them. :data:`RULES` says, next to the schema, what each field may be.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

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
    graph: bool = False  # attach the run's computation graph (figures/computation_graph.svg)


@dataclass
class Config:
    seed: int = 0
    data: Any = MISSING
    init: Any = MISSING
    activation: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# Keys of every data node that describe the test set rather than the generator:
# a held-out set of ``test_samples`` examples drawn from the same generator with
# ``test_seed`` (default: the data seed + 1), as the course does for circles.
DATA_SPLIT_KEYS: dict[str, Any] = {"test_samples": 0, "test_seed": None}

_DATASETS: Registry[Any] = datasets._registry
PLUGIN_GROUPS: dict[str, Registry[Any]] = {
    "init": initializers,
    "activation": activations,
    "data": _DATASETS,
}
# The config's own sections; every other top-level key (plugin groups, ``seed``) is
# part of the record too, and ``tracking`` says where results go, not what they are.
NOT_RECORDED = ("tracking", "hydra")


# -- rules: what each field may be (one place; messages derive from it) ----------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


Rule = Callable[[Any], str | None]  # a bad value -> what is allowed; a good one -> None


def int_at_least(low: int) -> Rule:
    allowed = "must be a positive integer" if low == 1 else f"must be an integer >= {low}"
    return lambda v: None if _is_int(v) and v >= low else allowed


def optional(rule: Rule) -> Rule:
    return lambda v: None if v is None else rule(v)


def positive_number(v: Any) -> str | None:
    ok = _is_number(v) and math.isfinite(v) and v > 0
    return None if ok else "must be a positive number"


def one_of(*options: str) -> Rule:
    return lambda v: None if v in options else f"must be {' or '.join(options)}"


def layer_sizes(v: Any) -> str | None:
    if not isinstance(v, list) or not v:
        return "must be a non-empty list of layer sizes like [4] or [10,5]"
    if not all(_is_int(n) and n > 0 for n in v):
        return "layer sizes must be positive integers"
    return None


def non_empty_name(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must be a non-empty name"


EXPERIMENT_NAME_MAX = 200  # its artifact folder is named after it (filesystems allow 255)


def experiment_name(v: Any) -> str | None:
    if non_empty_name(v) is not None:
        return non_empty_name(v)
    if len(v) > EXPERIMENT_NAME_MAX:
        return f"must be at most {EXPERIMENT_NAME_MAX} characters, got {len(v)}"
    return None


def mlflow_uri(v: Any) -> str | None:
    if isinstance(v, str) and ("://" in v or v.startswith("databricks")):
        return None
    return "must be an MLflow URI like sqlite:///abs/path/mlflow.db or http://127.0.0.1:5000"


RULES: dict[str, Rule] = {
    "seed": int_at_least(0),
    "model.hidden": layer_sizes,
    "model.dtype": one_of("float64", "float32"),
    "train.learning_rate": positive_number,
    "train.iterations": int_at_least(1),
    "train.diagnostics_every": int_at_least(1),
    "data.test_samples": int_at_least(0),
    "data.test_seed": optional(int_at_least(0)),
    "tracking.experiment": experiment_name,
    "tracking.uri": optional(mlflow_uri),
    "tracking.log_every": optional(int_at_least(1)),
}


def _invalid(key: str, value: object, allowed: str) -> NoReturn:
    msg = f"{key}={value!r} is invalid: {allowed}"
    raise ConfigError(msg)


def check(key: str, value: Any) -> Any:
    """Apply the field's rule (if it has one); return the value or raise ConfigError."""
    rule = RULES.get(key)
    allowed = rule(value) if rule is not None else None
    if allowed is not None:
        _invalid(key, value, allowed)
    return value


# -- plugins as config options ------------------------------------------------------


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


def store_configs() -> None:
    """Put the schema and every registered plugin into Hydra's ConfigStore.

    Plugins that have a YAML file in ``conf/<group>/`` are described there;
    every other registered plugin gets a node ``{name: <key>, <param>: <default>}``.
    Call again after registering or unregistering plugins: the options follow.
    """
    cs = ConfigStore.instance()
    cs.store(name="schema", node=Config)
    for group, registry in PLUGIN_GROUPS.items():
        yaml = _yaml_options(group)
        names = set(registry.names())
        stored = cs.repo.get(group, {})
        for file, node in list(stored.items()):
            if node.provider == "shallownet" and file.removesuffix(".yaml") not in names:
                del stored[file]  # unregistered since
        for name in sorted(names - yaml):
            node = {"name": name, **plugin_parameters(group, name)}
            cs.store(group=group, name=name, node=node, provider="shallownet")


# -- the settings record ------------------------------------------------------------


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
    graph: bool = False


def text(value: Any) -> str:
    """A record value as it is typed on the command line (and shown in MLflow)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(text(v) for v in value) + "]"
    return str(value)


# What may differ between networks trained together (see batch_key): the rest of
# the record (data, shapes, activation, dtype, iterations) must be equal.
BATCHABLE = ("seed", "init", "train.learning_rate")


@dataclass(frozen=True)
class Settings:
    """A validated job: its settings record and where (whether) it is recorded.

    ``record`` is the one source: every other attribute reads it.
    """

    record: Mapping[str, Any]
    tracking: TrackingSettings | None = None

    def choice(self, group: str) -> Choice:
        """A plugin group's plugin and parameters (``init`` -> ``Choice("normal", {...})``)."""
        prefix = f"{group}."
        params = {
            key[len(prefix) :]: value
            for key, value in self.record.items()
            if key.startswith(prefix) and key != f"{group}.name"
        }
        for key in DATA_SPLIT_KEYS if group == "data" else ():
            params.pop(key)
        return Choice(self.record[f"{group}.name"], params)

    @property
    def data(self) -> Choice:
        return self.choice("data")

    @property
    def init(self) -> Choice:
        return self.choice("init")

    @property
    def activation(self) -> Choice:
        return self.choice("activation")

    @property
    def seed(self) -> int:
        return int(self.record["seed"])

    @property
    def test_samples(self) -> int:
        return int(self.record["data.test_samples"])

    @property
    def test_seed(self) -> int | None:
        seed = self.record["data.test_seed"]
        return None if seed is None else int(seed)

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(self.record["model.hidden"])

    @property
    def dtype(self) -> str:
        return str(self.record["model.dtype"])

    @property
    def learning_rate(self) -> float:
        return float(self.record["train.learning_rate"])

    @property
    def iterations(self) -> int:
        return int(self.record["train.iterations"])

    @property
    def diagnostics_every(self) -> int:
        return int(self.record["train.diagnostics_every"])

    def params(self) -> dict[str, str]:
        """The MLflow params: the record, each value as typed."""
        return {key: text(value) for key, value in self.record.items()}

    def config_hash(self) -> str:
        """Identifies a configuration across sweeps (to skip finished ones)."""
        blob = json.dumps(self.params(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def batch_key(self) -> str:
        """Jobs with equal keys can be trained together (they differ only in BATCHABLE keys)."""
        rest = {
            key: text(value)
            for key, value in self.record.items()
            if key.partition(".")[0] not in BATCHABLE and key not in BATCHABLE
        }
        return json.dumps(rest, sort_keys=True)

    def label(self, overrides: Iterable[str]) -> str:
        """The run name: the values a job's overrides set, as recorded, in the order typed
        (``init=zeros,activation=tanh,seed=0``); overrides outside the record are left out."""
        keys = dict.fromkeys(record_key(line.partition("=")[0]) for line in overrides)
        values = [f"{key}={text(self.record[key])}" for key in keys if key in self.record]
        return ",".join(values) or "defaults"


def record_key(override_key: str) -> str:
    """The record key an override sets: ``+init.scale`` -> ``init.scale``."""
    return override_key.lstrip("+~")


def _choice(group: str, node: object, option: str | None) -> dict[str, Any]:
    """A plugin group's part of the record: the option typed, the plugin and its parameters."""
    registry = PLUGIN_GROUPS[group]
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
    return {
        group: option or name,
        f"{group}.name": name,
        **{f"{group}.{key}": value for key, value in params.items()},
    }


# The schema's own sections: only their fields may be set (``+model.depth=3`` is refused).
SECTIONS: dict[str, type] = {"model": ModelConfig, "train": TrainConfig}


def _flatten(prefix: str, node: Mapping[str, Any]) -> dict[str, Any]:
    schema = SECTIONS.get(prefix)
    if schema is not None:
        allowed = [f.name for f in fields(schema)]
        for key, value in node.items():
            if key not in allowed:
                _invalid(
                    f"{prefix}.{key}", value, f"not a setting; {prefix} has {', '.join(allowed)}"
                )
    return {f"{prefix}.{key}": value for key, value in node.items()}


def settings(
    cfg: DictConfig, launch_dir: Path, choices: Mapping[str, Any] | None = None
) -> Settings:
    """A composed config as validated :class:`Settings`, or ConfigError in one line.

    Checks every field against the schema's rules; the plugins' own checks
    (which call them on small inputs) are :func:`check_plugins`. ``choices``
    are the group options chosen (``init: small``), by default read from the
    config's ``hydra.runtime.choices``.
    """
    masked = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    raw = OmegaConf.to_container(masked, resolve=True)
    assert isinstance(raw, dict)
    if choices is None:
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    return settings_from({str(k): v for k, v in raw.items()}, launch_dir, choices)


def _missing(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Keys whose value is still MISSING (``???``)."""
    found = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found += _missing(value, f"{prefix}{key}.")
        elif value == "???":
            found.append(f"{prefix}{key}")
    return found


def settings_from(
    raw: Mapping[str, Any], launch_dir: Path, choices: Mapping[str, Any]
) -> Settings:
    """:func:`settings` of a task config given as plain, resolved containers."""
    for key in sorted(_missing(raw)):
        _invalid(key, "???", f"a value is required; add {key}=... to the command")
    record: dict[str, Any] = {}
    for key, value in raw.items():
        if key in NOT_RECORDED:
            continue
        if key in PLUGIN_GROUPS:
            record.update(_choice(key, value, choices.get(key)))
        elif isinstance(value, Mapping):
            record.update(_flatten(key, value))
        else:
            record[key] = value
    for key, value in record.items():
        check(key, value)
    if record["data.test_samples"] and "n_samples" not in plugin_parameters(
        "data", record["data.name"]
    ):
        _invalid(
            "data.test_samples",
            record["data.test_samples"],
            f"dataset {record['data.name']!r} has no n_samples to draw a test set with; "
            f"use 0 and hold out rows of your own",
        )
    if record["data.name"] == "csv" and record.get("data.path") is not None:
        record["data.path"] = str((launch_dir / str(record["data.path"])).resolve())
    return Settings(record, _tracking(raw["tracking"], record, launch_dir))


def _tracking(
    node: Mapping[str, Any], record: Mapping[str, Any], launch_dir: Path
) -> TrackingSettings | None:
    if not node["enabled"]:
        return None
    for key, value in node.items():
        check(f"tracking.{key}", value)
    log_every = node["log_every"] or default_log_every(
        record["train.iterations"], record["train.diagnostics_every"]
    )
    return TrackingSettings(
        uri=_absolute(node["uri"], launch_dir),
        experiment=node["experiment"],
        log_every=log_every,
        figures=bool(node["figures"]),
        skip_finished=bool(node["skip_finished"]),
        graph=bool(node["graph"]),
    )


def _absolute(uri: str | None, launch_dir: Path) -> str:
    """The store's URI; an SQLite file (by default ``mlflow.db`` where the command runs)
    is named by its absolute path, as every process of a sweep must find the same file."""
    if uri is None:
        return f"sqlite:///{(launch_dir / 'mlflow.db').resolve()}"
    if uri.startswith("sqlite:///"):
        path, query = uri.removeprefix("sqlite:///"), ""
        if "?" in path:
            path, query = path.split("?", 1)
            query = "?" + query
        if path and path != ":memory:" and not Path(path).is_absolute():
            return f"sqlite:///{(launch_dir / path).resolve()}{query}"
    return uri


def default_log_every(iterations: int, diagnostics_every: int) -> int:
    """About 100 points per curve, on steps where diagnostics are recorded."""
    return diagnostics_every * max(1, math.ceil(iterations / (100 * diagnostics_every)))


# How each plugin group checks a choice: call it once on something small. (Data is
# checked by loading it, with its test split: shallownet.job.check.)
PLUGIN_CHECKS: dict[str, Callable[[Choice], object]] = {
    "init": lambda c: initializers.check(c.name, **c.params),
    "activation": lambda c: activations.check(c.name, **c.params),
}


def check_plugins(jobs: Sequence[Settings]) -> None:
    """Call each distinct plugin configuration of these jobs once.

    Plugins check their own parameters (a negative noise, a scale < 0); a sweep
    of 2,000 jobs over three initializers makes three calls, not 2,000.
    """
    seen: set[str] = set()
    for job in jobs:
        for group, check_choice in PLUGIN_CHECKS.items():
            choice = job.choice(group)
            key = json.dumps([group, choice.name, choice.params], sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            try:
                check_choice(choice)
            except (PluginError, ValueError, TypeError) as exc:
                msg = f"{group}: {exc}"
                raise ConfigError(msg) from None
            except Exception as exc:  # a plugin that raises while being checked is broken
                msg = f"{group}: plugin {choice.name!r} raised {type(exc).__name__}: {exc}"
                raise ConfigError(msg) from None
