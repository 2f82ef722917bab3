"""Large data: 784 inputs, 128 hidden units, 60,000 examples (synthetic), tanh.
Time per iteration vs the matrix-multiply bound measured on this machine
(the two big products of an iteration, W1 @ X and dZ1 @ Xᵀ, timed alone),
each case in turn, so that the machine's drift within the run slows all alike.

    python -m benchmarks.bench_large [--iterations 5] [--repeats 5]

shallownet trains such a network on its fused passes (``shallownet.fused``: buffers
kept across steps, elementwise work in one thread per core); the course passes
column times the same training on ``shallownet.network``'s passes, as below
``fused.MIN_SIZE``.

Set nothing special; where OPENBLAS_CORETYPE is set for old OpenBLAS builds,
run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` to measure a current numpy.
"""

from __future__ import annotations

import argparse

import numpy as np

import shallownet as sn
from benchmarks.common import machine, median_times
from shallownet import fused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--examples", type=int, default=60_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_x, n_h, m = 784, 128, args.examples
    X64 = rng.standard_normal((n_x, m))
    Y = (X64[:10].sum(axis=0, keepdims=True) > 0).astype(np.float64)
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('architecture', '')} x{i['num_threads']}"
            for i in threadpool_info()
        )
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"large data: n_x={n_x}, n_h={n_h}, m={m}, tanh; {machine()}; BLAS: {blas}\n")
    print(
        "| dtype | shallownet (s/iter) | matmul bound (s/iter) | ratio | GFLOP/s in the products "
        "| course passes (s/iter) | their ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        X = X64.astype(dtype)
        W1 = (rng.standard_normal((n_h, n_x)) * np.sqrt(1 / n_x)).astype(dtype)
        dZ1 = rng.standard_normal((n_h, m)).astype(dtype)

        def products(X: np.ndarray = X, W1: np.ndarray = W1, dZ1: np.ndarray = dZ1) -> None:
            W1 @ X  # forward: Z1 = W1 X + b1
            dZ1 @ X.mT  # backward: dW1 = dZ1 Xᵀ / m

        def framework(X: np.ndarray = X, dtype: type = dtype) -> None:
            net = sn.Network(n_x, [n_h], "tanh", "xavier", seed=0, dtype=dtype)
            sn.train(net, X, Y.astype(dtype), 0.1, args.iterations)

        def course_passes() -> None:
            threshold, fused.MIN_SIZE = fused.MIN_SIZE, n_h * m + 1  # below it: the course's
            try:
                framework()
            finally:
                fused.MIN_SIZE = threshold

        times = median_times(
            {"bound": products, "shallownet": framework, "course": course_passes}, args.repeats
        )
        bound = times["bound"]
        per_iter = times["shallownet"] / args.iterations
        course = times["course"] / args.iterations
        gflops = 2 * 2 * n_h * n_x * m / bound / 1e9
        name = np.dtype(dtype).name
        print(
            f"| {name} | {per_iter:.4f} | {bound:.4f} | {per_iter / bound:.2f}x | {gflops:.1f} "
            f"| {course:.4f} | {course / bound:.2f}x |"
        )


if __name__ == "__main__":
    main()
