"""The settings record: one validated, flat record per job, under the keys users type.

:func:`settings_from` turns a composed configuration (plain containers) into
:class:`Settings`: ``init=small`` is recorded as ``init: small`` beside
``init.name: normal`` and ``init.scale: 0.01``. MLflow params, run names, the
config hash, the batch key and report columns all derive from that record, so a
setting added to the schema (:mod:`shallownet.schema`) reaches all of them. No
Hydra here: :mod:`shallownet.config` gives Hydra's composed config to this module.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import datasets
from .activations import activations
from .errors import ConfigError
from .initializers import initializers
from .registry import PluginError, Registry, UnknownPluginError, keyword_parameters
from .schema import DATA_SPLIT_KEYS, REQUIRED_KEYS, RULES, SECTIONS, SEED, is_number

_DATASETS: Registry[Any] = datasets._registry
PLUGIN_GROUPS: dict[str, Registry[Any]] = {
    "init": initializers,
    "activation": activations,
    "data": _DATASETS,
}
# The config's own sections; every other top-level key (plugin groups, ``seed``) is
# part of the record too, and ``tracking`` says where results go, not what they are.
NOT_RECORDED = ("tracking", "hydra")


def _invalid(key: str, value: object, allowed: str) -> NoReturn:
    msg = f"{key}={shown(value)} is invalid: {allowed}"
    raise ConfigError(msg)


def shown(value: object) -> str:
    """A value as a message quotes it: an integer of thousands of digits by its size
    (Python refuses to print one of more than 4,300)."""
    if isinstance(value, int) and abs(value).bit_length() > 200:
        return f"<an integer of about {int(abs(value).bit_length() * 0.30103)} digits>"
    return repr(value)


def check(key: str, value: Any) -> Any:
    """Apply the field's rule (if it has one); return the value or raise ConfigError."""
    rule = RULES.get(key)
    allowed = rule(value) if rule is not None else None
    if allowed is not None:
        _invalid(key, value, allowed)
    return value


def plugin_parameters(group: str, name: str) -> dict[str, Any]:
    """A plugin's parameters with their defaults, as its config node holds them."""
    if group == "init":
        return initializers.parameters(name)
    if group == "activation":
        return dict(activations.get(name).params)
    return {**keyword_parameters(_DATASETS.get(name)), **DATA_SPLIT_KEYS}


@dataclass(frozen=True)
class Choice:
    """A plugin by registry key, with its parameters."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TrackingSettings:
    uri: str
    experiment: str
    log_every: int | None  # steps between curve points; None: dense early, sparse later
    figures: bool
    skip_finished: bool
    graph: bool = False
    run_figures: str = "first_seed"  # in a sweep: the first seed's, or every run's
    # where the sweep's jobs are recorded (see schema.TrackingConfig)
    parent_run_id: str | None = None
    view_tag: str | None = None
    view_group: str | None = None  # the run's group in the sweep's view (the tag's value)
    draw_figures: bool | None = None  # this run's figures (None: as ``figures`` says)

    @property
    def draws_figures(self) -> bool:
        """Whether this run draws its figures."""
        return self.figures if self.draw_figures is None else self.draw_figures


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
        if is_number(default) and not is_number(value):
            _invalid(f"{group}.{key}", value, "must be a number")
        if is_number(value) and not math.isfinite(value):
            _invalid(f"{group}.{key}", value, "must be a finite number")
        if group == "data" and key == "seed" and (wrong := SEED(value)) is not None:
            _invalid(f"{group}.{key}", value, wrong)  # as the job's own seed
    return {
        group: option or name,
        f"{group}.name": name,
        **{f"{group}.{key}": value for key, value in params.items()},
    }


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


def _missing(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Keys whose value is still MISSING (``???``)."""
    found = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found += _missing(value, f"{prefix}{key}.")
        elif value == "???":
            found.append(f"{prefix}{key}")
    return found


_ABSENT = object()


def _lookup(raw: Mapping[str, Any], key: str) -> Any:
    """``raw["model"]["hidden"]`` for ``model.hidden``, or _ABSENT."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def settings_from(
    raw: Mapping[str, Any], launch_dir: Path, choices: Mapping[str, Any]
) -> Settings:
    """:func:`settings` of a task config given as plain, resolved containers."""
    for key in sorted(_missing(raw)):
        _invalid(key, "???", f"a value is required; add {key}=... to the command")
    for key in REQUIRED_KEYS:
        parts = key.split(".")
        # the shortest part of the key that is gone (~model deletes model.hidden too)
        gone = next(
            (
                p
                for n in range(1, len(parts) + 1)
                if _lookup(raw, p := ".".join(parts[:n])) is _ABSENT
            ),
            None,
        )
        if gone is not None:
            msg = (
                f"{gone} is missing (deleted with ~{gone}?): every job needs it; set it "
                f"instead ({key}=...; see shallownet --help)"
            )
            raise ConfigError(msg)
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
    _check_in_dtype("train.learning_rate", record)
    if record["data.name"] == "csv" and record.get("data.path") is not None:
        record["data.path"] = str((launch_dir / str(record["data.path"])).resolve())
    return Settings(record, _tracking(raw["tracking"], record, launch_dir))


def _check_in_dtype(key: str, record: Mapping[str, Any]) -> None:
    """A positive number the model computes with stays one in ``model.dtype``: float32
    rounds ``train.learning_rate=1e-50`` to 0 (training would go on, flat) and 1e39 to
    inf. A normal number of the dtype, between its smallest and its largest."""
    value, dtype = record[key], record["model.dtype"]
    info = np.finfo(dtype)
    if not float(info.tiny) <= value <= float(info.max):
        _invalid(
            key,
            value,
            f"in model.dtype={dtype} it is {_as_dtype(value, dtype)}; use a value from "
            f"{info.tiny:.3g} to {info.max:.3g}"
            + (" or model.dtype=float64" if dtype != "float64" else ""),
        )


def _as_dtype(value: float, dtype: str) -> str:
    """How ``value`` comes out in ``dtype``: 0, a subnormal losing its digits, or inf."""
    with np.errstate(over="ignore"):
        cast = float(np.asarray(value, dtype=dtype))
    if cast == 0:
        return "0"
    if np.isinf(cast):
        return "inf"
    return f"{cast:.3g}, a subnormal that has lost digits"


def _tracking(
    node: Mapping[str, Any], record: Mapping[str, Any], launch_dir: Path
) -> TrackingSettings | None:
    if not node["enabled"]:
        return None
    for key, value in node.items():
        check(f"tracking.{key}", value)
    return TrackingSettings(
        uri=_absolute(node["uri"], launch_dir),
        experiment=node["experiment"],
        log_every=node["log_every"],
        figures=bool(node["figures"]),
        skip_finished=bool(node["skip_finished"]),
        graph=bool(node["graph"]),
        run_figures=node["run_figures"],
        parent_run_id=node["parent_run_id"],
        view_tag=node["view_tag"],
        view_group=node["view_group"],
        draw_figures=node["draw_figures"],
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


# How each plugin group checks a choice: call it once on something small. (Data is
# checked by loading it, with its test split: shallownet.job.check.)
PLUGIN_CHECKS: dict[str, Callable[[Choice], object]] = {
    "init": lambda c: initializers.check(c.name, **c.params),
    "activation": lambda c: activations.check(c.name, **c.params),
}


def check_plugins(
    jobs: Sequence[Settings], guard: Callable[[], AbstractContextManager[object]]
) -> None:
    """Call each distinct plugin configuration of these jobs once, each call inside
    ``guard()`` (validation's: ``sys.exit()`` or a ``KeyboardInterrupt`` no signal caused
    is the plugin's fault, and the command's signal handlers are kept).

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
                with guard():
                    check_choice(choice)
            except (PluginError, ValueError, TypeError) as exc:
                msg = f"{group}: {exc}"
                raise ConfigError(msg) from None
            except Exception as exc:  # a plugin that raises while being checked is broken
                msg = f"{group}: plugin {choice.name!r} raised {type(exc).__name__}: {exc}"
                raise ConfigError(msg) from None
