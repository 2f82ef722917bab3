"""One job: data, network and training from validated settings (no Hydra, no MLflow)."""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from . import datasets
from .config import Settings, check_plugins, settings, text
from .diagnostics import RecordDiagnostics
from .errors import ConfigError
from .network import Array, Network
from .train import History


@dataclass(frozen=True)
class Data:
    X: Array
    Y: Array
    X_test: Array | None = None
    Y_test: Array | None = None


@dataclass
class JobResult:
    net: Network
    initial: Network
    data: Data
    history: History
    train_accuracy: float
    test_accuracy: float | None

    @property
    def status(self) -> str:
        return self.history.status


def load_data(settings: Settings) -> Data:
    """The training set and, when ``data.test_samples > 0``, a held-out test set."""
    X, Y = datasets.load(settings.data.name, **settings.data.params)
    if settings.test_samples == 0:
        return Data(X, Y)
    params = dict(settings.data.params)
    seed = params.get("seed", 0)
    params["n_samples"] = settings.test_samples
    params["seed"] = settings.test_seed if settings.test_seed is not None else seed + 1
    X_test, Y_test = datasets.load(settings.data.name, **params)
    return Data(X, Y, X_test, Y_test)


def build_network(settings: Settings, n_x: int) -> Network:
    return Network(
        n_x=n_x,
        hidden=list(settings.hidden),
        activation=settings.activation.name,
        activation_kwargs=settings.activation.params,
        init=settings.init.name,
        init_kwargs=settings.init.params,
        seed=settings.seed,
        dtype=np.dtype(settings.dtype),
    )


def diagnostics(settings: Settings, data: Data) -> RecordDiagnostics:
    """The diagnostics callback every job records with (test accuracy when there is a test set)."""
    return RecordDiagnostics(settings.diagnostics_every, data.X_test, data.Y_test)


def result(net: Network, initial: Network, data: Data, history: History) -> JobResult:
    """A trained network's outcome, with its accuracy on the train (and test) data."""
    finite = history.status == "FINISHED"
    train_acc = net.accuracy(data.X, data.Y) if finite else float("nan")
    test_acc = None
    if data.X_test is not None and data.Y_test is not None:
        test_acc = net.accuracy(data.X_test, data.Y_test) if finite else float("nan")
    return JobResult(net, initial, data, history, train_acc, test_acc)


def describe(settings: Settings, result: JobResult, threshold: float = 0.3) -> str:
    """What a run shows, in a sentence written from its own numbers (MLflow displays it
    as the run's description): ``zeros + tanh: all 4 hidden units identical from step 0
    to 10,000 (symmetric); cost stayed at ln 2 (chance); train accuracy 50.0%``."""
    history = result.history
    head = f"{text(settings.record['init'])} + {text(settings.record['activation'])}"
    if history.status != "FINISHED":
        return f"{head}: {history.failure_reason}"
    parts = []
    first, last = (history.records[0], history.records[-1]) if history.records else ({}, {})
    units = settings.hidden[0]
    if "distinct_units" in first and units > 1:
        distinct = [int(record["distinct_units"]) for record in history.records]
        if max(distinct) == 1:
            steps = len(history.cost)
            parts.append(
                f"all {units} hidden units identical from step 0 to {steps:,} (symmetric)"
            )
        else:
            parts.append(
                f"{int(last['distinct_units'])} of {units} hidden units distinct at the end"
            )
    activation = text(settings.record["activation"])
    if first.get("sat_frac", 0.0) >= 0.01:
        parts.append(
            f"{first['sat_frac']:.0%} of hidden activations in the flat tails of {activation} "
            f"at step 0 (sat_frac)"
        )
    if first.get("dead_frac", 0.0) >= 0.01:
        parts.append(
            f"{first['dead_frac']:.0%} of hidden activations dead (no gradient through "
            f"{activation}) at step 0 (dead_frac)"
        )
    cost, final = history.cost, history.final_cost
    below = np.flatnonzero(cost <= threshold)
    if below.size:
        parts.append(f"cost below {threshold:g} after {int(below[0]):,} steps (final {final:.3g})")
    elif abs(final - math.log(2)) < 1e-3 and abs(float(cost[0]) - math.log(2)) < 1e-3:
        parts.append("cost stayed at ln 2 (chance)")
    else:
        parts.append(f"cost never below {threshold:g} (final {final:.3g})")
    parts.append(f"train accuracy {result.train_accuracy:.1%}")
    if result.test_accuracy is not None:
        parts.append(f"test accuracy {result.test_accuracy:.1%}")
    return f"{head}: " + "; ".join(parts)


# -- checks before anything is written ---------------------------------------------


def validate(
    cfg: DictConfig, launch_dir: Path, choices: Mapping[str, Any] | None = None
) -> Settings:
    """Check every field, the plugins, the data and the size of one composed config."""
    result = settings(cfg, launch_dir, choices)
    check([result])
    return result


def check(jobs: Sequence[Settings]) -> None:
    """Everything about these jobs that can fail before training, checked now, each
    distinct configuration once: the plugins, the data (with its test split) and
    whether a network of this size fits in this machine's memory."""
    check_plugins(jobs)
    loaded: dict[str, Data] = {}
    sized: set[tuple[str, tuple[int, ...], str]] = set()
    for job in jobs:
        key = json.dumps(
            {k: str(v) for k, v in job.record.items() if k.partition(".")[0] == "data"},
            sort_keys=True,
        )
        if key not in loaded:
            try:
                loaded[key] = load_data(job)
            except (ValueError, TypeError, OSError) as exc:
                msg = f"data: {exc}"
                raise ConfigError(msg) from None
            except Exception as exc:  # a data plugin that raises is broken
                msg = f"data: plugin {job.data.name!r} raised {type(exc).__name__}: {exc}"
                raise ConfigError(msg) from None
        if (key, job.hidden, job.dtype) not in sized:
            sized.add((key, job.hidden, job.dtype))
            _check_memory(job, loaded[key])


def memory_needed(layers: Sequence[int], examples: int, dtype: str) -> int:
    """Bytes one network needs while training, about: Z, A and their gradients for every
    layer and example, and the parameters, their gradients and the initial copy."""
    units = sum(layers[1:])
    weights = sum(n * n_prev for n_prev, n in itertools.pairwise(layers))
    return (4 * units * examples + 3 * (weights + units)) * np.dtype(dtype).itemsize


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new process (Linux: MemAvailable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _check_memory(job: Settings, data: Data) -> None:
    examples = max(data.X.shape[1], 0 if data.X_test is None else data.X_test.shape[1])
    layers = [data.X.shape[0], *job.hidden, 1]
    need = memory_needed(layers, examples, job.dtype)
    have = available_memory()
    if have is not None and need > have:
        msg = (
            f"model.hidden={list(job.hidden)} is invalid: a network this size needs about "
            f"{_gib(need)} of memory on {examples} examples of {layers[0]} features "
            f"({job.dtype}); this machine has {_gib(have)} available; use fewer units"
        )
        raise ConfigError(msg)
