"""The configuration schema: every setting, its default and its rule, side by side.

Plain dataclasses (no Hydra): :mod:`shallownet.config` stores them in Hydra's
ConfigStore, and the YAML tree in ``conf/`` only adds what a schema cannot say
(presets, the course's named options). A field's rule says what it may be, in the
words of the error message: ``train.learning_rate=-1.0 is invalid: must be a
positive number``. :data:`RULES` collects them under the keys users type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

MISSING = "???"  # OmegaConf's marker of a required value (omegaconf.MISSING)

Rule = Callable[[Any], str | None]  # a bad value -> what is allowed; a good one -> None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def int_at_least(low: int) -> Rule:
    allowed = "must be a positive integer" if low == 1 else f"must be an integer >= {low}"
    return lambda v: None if is_int(v) and v >= low else allowed


def int_in(low: int, high: int) -> Rule:
    allowed = f"must be an integer from {low} to {high}"
    return lambda v: None if is_int(v) and low <= v <= high else allowed


# numpy's seeds: any integer >= 0 draws, but data sets drawn with RandomState (the
# course's) take 0 to 2**32 - 1: one range for every seed a user types
SEED = int_in(0, 2**32 - 1)


def optional(rule: Rule) -> Rule:
    return lambda v: None if v is None else rule(v)


def positive_number(v: Any) -> str | None:
    ok = is_number(v) and math.isfinite(v) and v > 0
    return None if ok else "must be a positive number"


def one_of(*options: str) -> Rule:
    return lambda v: None if v in options else f"must be {' or '.join(options)}"


def layer_sizes(v: Any) -> str | None:
    if not isinstance(v, list) or not v:
        return "must be a non-empty list of layer sizes like [4] or [10,5]"
    if not all(is_int(n) and n > 0 for n in v):
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


def setting(default: Any, rule: Rule | None = None, *, by_sweep: bool = False) -> Any:
    """A schema field: its default, its rule, and whether the sweep (not the user) sets it.

    A mutable default (a list) is copied for each config."""
    metadata = {"rule": rule, "by_sweep": by_sweep}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


# -- schema ---------------------------------------------------------------------


@dataclass
class ModelConfig:
    hidden: list[int] = setting([4], layer_sizes)
    dtype: str = setting("float64", one_of("float64", "float32"))


@dataclass
class TrainConfig:
    learning_rate: float = setting(1.2, positive_number)
    iterations: int = setting(10_000, int_at_least(1))
    diagnostics_every: int = setting(10, int_at_least(1))


@dataclass
class TrackingConfig:
    enabled: bool = setting(True)
    # None: sqlite:///<directory the command runs in>/mlflow.db
    uri: str | None = setting(None, optional(mlflow_uri))
    experiment: str = setting("shallownet", experiment_name)
    # steps between curve points; None: dense early, sparse later (tracking/run.py: on_curve)
    log_every: int | None = setting(None, optional(int_at_least(1)))
    figures: bool = setting(True)  # the runs' figures (PNGs) and the report's
    # which runs of a sweep draw their figures: the first seed of each configuration
    # (the others are repeats of it), or every run
    run_figures: str = setting("first_seed", one_of("first_seed", "every_run"))
    skip_finished: bool = setting(False)
    graph: bool = setting(False)  # attach the computation graph (figures/computation_graph.svg)
    # Set by the sweep for each of its jobs (a user has no reason to): the sweep's parent
    # run, and how the sweep's view groups its runs (the run tag's name and this run's
    # group: its value).
    parent_run_id: str | None = setting(None, by_sweep=True)
    view_tag: str | None = setting(None, by_sweep=True)
    view_group: str | None = setting(None, by_sweep=True)
    draw_figures: bool | None = setting(None, by_sweep=True)  # None: as figures says


@dataclass
class DataSplit:
    """Keys of every data node that describe the test set rather than the generator: a
    held-out set of ``test_samples`` examples drawn from the same generator with
    ``test_seed`` (default: the data seed + 1), as the course does for circles."""

    test_samples: int = setting(0, int_at_least(0))
    test_seed: int | None = setting(None, optional(SEED))


@dataclass
class Config:
    seed: int = setting(0, SEED)
    data: Any = MISSING  # a plugin group: {name: <registry key>, <parameter>: <value>, ...}
    init: Any = MISSING
    activation: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def _settings(schema: type, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf field of a schema as (key as typed, dataclass field)."""
    for f in fields(schema):
        section: Any = f.default_factory  # a section's dataclass (ModelConfig), or none
        if isinstance(section, type) and is_dataclass(section):
            yield from _settings(section, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f


def _all_settings() -> Iterator[tuple[str, Any]]:
    yield from _settings(Config)
    yield from _settings(DataSplit, "data.")


RULES: dict[str, Rule] = {
    key: f.metadata["rule"] for key, f in _all_settings() if f.metadata.get("rule") is not None
}
DATA_SPLIT_KEYS: dict[str, Any] = {f.name: f.default for f in fields(DataSplit)}
SWEEP_KEYS = tuple(key for key, f in _all_settings() if f.metadata.get("by_sweep"))
TRACKING_KEYS = tuple(key for key, _ in _settings(TrackingConfig, "tracking."))
# Every key a job's config holds (plugin groups as their node): none may be deleted (~seed)
REQUIRED_KEYS = tuple(key for key, _ in _settings(Config))
# The schema's own sections: only their fields may be set (``+model.depth=3`` is refused).
SECTIONS: dict[str, type] = {"model": ModelConfig, "train": TrainConfig}
