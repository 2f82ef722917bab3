"""shallownet: how weight initialization and activation functions shape training.

The numerical core is plain numpy::

    import shallownet as sn

    X, Y = sn.datasets.flower()
    net = sn.Network(n_x=2, hidden=[4], activation="tanh", init="normal", seed=2)
    hist = sn.train(net, X, Y, learning_rate=1.2, iterations=10_000)
    net.accuracy(X, Y)

Backpropagation on a computation graph (``sn.graph``)::

    a, b, c = sn.graph.Var(5.0), sn.graph.Var(3.0), sn.graph.Var(2.0)
    J = 3 * (a + b * c)            # J.value == 33
    J.backward()                   # a.grad, b.grad, c.grad == 3, 6, 9

How a job flows, module by module (docs/architecture.md): the command line
(``cli``) hands the typed grid to the plan (``sweep``), which composes
(``compose``) and validates (``validate``) every job into its record (``job``,
``settings``, ``schema``); the sweep's parent run opens (``tracking.parent``); the
batched launcher places batches of jobs in workers; the job lifecycle
(``lifecycle``) opens each run (``tracking.run``), trains (``train``, ``stack``,
``network``) and ends each run with a true status; the report (``report``) reads
the store back through its vocabulary (``vocabulary``).
"""

from . import datasets, diagnostics, graph
from .activations import Activation, activations
from .diagnostics import RecordDiagnostics
from .gradcheck import gradient_check
from .initializers import initializers
from .network import Network
from .registry import PluginError, Registry, UnknownPluginError
from .stack import StackCallback, StackState, train_stack
from .train import Callback, History, TrainState, train

__version__ = "0.1.0"

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
