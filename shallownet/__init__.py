"""shallownet: how weight initialization and activation functions shape training.

The numerical core is plain numpy::

    import shallownet as sn

    X, Y = sn.datasets.flower()
    net = sn.Network(n_x=2, hidden=[4], activation="tanh", init="normal", seed=2)
    hist = sn.train(net, X, Y, learning_rate=1.2, iterations=10_000)
    net.accuracy(X, Y)

Sweeps from Python, as ``shallownet -m`` runs them, read back as frames and figures::

    study = sn.sweep(["init=zeros,small,large", "activation=tanh", "seed=0,1,2"])
    study.table(), study.cost_figure(), study.open
    sn.load_sweep("sqlite:///mlflow.db")           # the latest sweep of a store

Backpropagation on a computation graph (``sn.graph``)::

    a, b, c = sn.graph.Var(5.0), sn.graph.Var(3.0), sn.graph.Var(2.0)
    J = 3 * (a + b * c)            # J.value == 33
    J.backward()                   # a.grad, b.grad, c.grad == 3, 6, 9

How a job flows, module by module (docs/architecture.md): the command line
(``cli``) hands the typed grid to the plan (``plan``), which composes
(``compose``) and validates (``validate``) every job into its record (``job``,
``settings``, ``schema``); the sweep's parent run opens (``tracking.parent``); the
batched launcher places batches of jobs in workers; the job lifecycle
(``lifecycle``) opens each run (``tracking.run``), trains (``train``, ``stack``,
``network``) and ends each run with a true status; the report (``report``) reads
the store back through its vocabulary (``vocabulary``).
"""

from typing import Any

from . import datasets, diagnostics, graph
from .activations import Activation, activations
from .diagnostics import RecordDiagnostics
from .gradcheck import gradient_check
from .initializers import initializers
from .network import Network
from .registry import PluginError, Registry, UnknownPluginError
from .stack import StackCallback, StackState, train_stack
from .train import Callback, History, TrainState, train
from .version import __version__


def __getattr__(name: str) -> Any:
    """``sn.sweep`` (:func:`shallownet.study.sweep`) and ``sn.load_sweep``
    (:func:`shallownet.report.load_sweep`), imported when first used: they bring Hydra
    and MLflow, which the core does without."""
    if name == "sweep":
        from .study import sweep

        return sweep
    if name == "load_sweep":
        from .report import load_sweep

        return load_sweep
    msg = f"module 'shallownet' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "Activation",
    "Callback",
    "History",
    "Network",
    "PluginError",
    "RecordDiagnostics",
    "Registry",
    "StackCallback",
    "StackState",
    "TrainState",
    "UnknownPluginError",
    "__version__",
    "activations",
    "datasets",
    "diagnostics",
    "gradient_check",
    "graph",
    "initializers",
    "train",
    "train_stack",
]
