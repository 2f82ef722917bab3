"""What a job trains and what it produced: its data, its network and its outcome, from its
validated settings record (no Hydra, no MLflow).

    load_data(settings)             the training set (and a held-out test set)
    build_network(settings, n_x)    the network the record describes
    outcome(net, initial, ...)      a trained network's outcome, with its accuracies
    describe(settings, outcome)     what the run shows, in one sentence
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from . import datasets
from .diagnostics import RecordDiagnostics
from .network import Array, Network
from .settings import Settings, text
from .train import History


@dataclass(frozen=True)
class Data:
    X: Array
    Y: Array
    X_test: Array | None = None
    Y_test: Array | None = None


@dataclass
class Outcome:
    """A trained job: its network before and after, its data, history and accuracies."""

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
    """The training set and, when ``data.test_samples > 0``, a held-out test set.

    The last data set loaded is kept (read-only): a single run is checked and then
    trained in one process, and loads its data once."""
    global _last
    key = data_key(settings)
    if _last is None or _last[0] != key:
        data = _generate(settings)
        for array in (data.X, data.Y, data.X_test, data.Y_test):
            if array is not None:
                array.setflags(write=False)
        _last = (key, data)
    return _last[1]


_last: tuple[str, Data] | None = None  # the data set loaded last, and its key


def data_key(settings: Settings) -> str:
    """The data part of a settings record: jobs with equal keys train on the same data."""
    part = {k: text(v) for k, v in settings.record.items() if k.partition(".")[0] == "data"}
    return json.dumps(part, sort_keys=True)


def _generate(settings: Settings) -> Data:
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


def outcome(net: Network, initial: Network, data: Data, history: History) -> Outcome:
    """A trained network's outcome, with its accuracy on the train (and test) data."""
    finite = history.status == "FINISHED"
    train_acc = net.accuracy(data.X, data.Y) if finite else float("nan")
    test_acc = None
    if data.X_test is not None and data.Y_test is not None:
        test_acc = net.accuracy(data.X_test, data.Y_test) if finite else float("nan")
    return Outcome(net, initial, data, history, train_acc, test_acc)


def describe(settings: Settings, result: Outcome, threshold: float = 0.3) -> str:
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
