"""One job: data, network and training from validated settings (no Hydra, no MLflow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import datasets
from .config import Settings
from .diagnostics import RecordDiagnostics
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
