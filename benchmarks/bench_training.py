"""Single network on the flower data (n_h = 4, tanh, 10,000 iterations):
shallownet vs a minimal hand-written numpy loop vs scikit-learn vs PyTorch.

    python benchmarks/bench_training.py [--iterations 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import warnings

import shallownet as sn
from benchmarks.common import machine, median_time, minimal_loop, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.iterations
    X, Y = sn.datasets.flower()
    params = sn.Network(2, [4], "tanh", "normal", seed=2).params
    rows = []

    rows.append(
        (
            "numpy loop",
            median_time(lambda: minimal_loop(X, Y, params, 1.2, n), args.repeats),
            "hand-written course loop",
        )
    )

    def framework(callbacks: list[sn.Callback]) -> None:
        net = sn.Network(2, [4], "tanh", "normal", seed=2)
        sn.train(net, X, Y, 1.2, n, callbacks=callbacks)

    rows.append(
        ("shallownet", median_time(lambda: framework([]), args.repeats), "sn.train, no callbacks")
    )
    rows.append(
        (
            "shallownet + diagnostics/10",
            median_time(lambda: framework([sn.RecordDiagnostics(every=10)]), args.repeats),
            "accuracy, symmetry, saturation, grad norms every 10 steps",
        )
    )

    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        print("scikit-learn is not installed: skipped (pip install scikit-learn)")
    else:

        def sklearn_fit() -> None:
            clf = MLPClassifier(
                hidden_layer_sizes=(4,),
                activation="tanh",
                solver="sgd",
                batch_size=X.shape[1],
                learning_rate_init=1.2,
                momentum=0.0,
                nesterovs_momentum=False,
                alpha=0.0,
                max_iter=n,
                tol=0.0,
                n_iter_no_change=n + 1,
                shuffle=False,
                random_state=2,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X.T, Y.ravel())

        rows.append(
            (
                "scikit-learn MLPClassifier",
                median_time(sklearn_fit, max(1, args.repeats // 2)),
                "solver=sgd, full batch, no momentum",
            )
        )

    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipped (pip install torch)")
    else:
        torch.set_num_threads(1)

        def torch_fit() -> None:
            Xt, Yt = torch.tensor(X.T), torch.tensor(Y.T)
            model = torch.nn.Sequential(
                torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
            ).double()
            opt = torch.optim.SGD(model.parameters(), lr=1.2)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for _ in range(n):
                opt.zero_grad()
                loss = loss_fn(model(Xt), Yt)
                loss.backward()
                opt.step()

        rows.append(
            (
                "PyTorch CPU eager",
                median_time(torch_fit, max(1, args.repeats // 2)),
                "float64, 1 thread, BCEWithLogitsLoss",
            )
        )

    print(f"single network, flower, n_h=4, tanh, {n} iterations; {machine()}\n")
    print(table(rows, "numpy loop"))
    per_iter = rows[0][1] / n * 1e6
    print(f"\nnumpy loop: {per_iter:.1f} us per iteration")


if __name__ == "__main__":
    main()
