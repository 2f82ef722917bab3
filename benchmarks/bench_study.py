"""The main study's flower half end to end: `shallownet -m experiment=main data=flower`
(9 configs x 5 seeds x 10,000 iterations, tracked in a fresh SQLite store) vs the 45
networks one after another in the minimal numpy loop, untracked. Then the depth preset
(27 networks of 4 x 50 on 50 inputs, shortened), with the launcher's BLAS thread
setting and with each worker running its own pool of a thread per core (as before).

    python -m benchmarks.bench_study [--iterations 10000] [--depth-iterations 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import shallownet as sn
from benchmarks.common import machine, minimal_loop, table

BIN = Path(sys.executable).parent


def sweep(*overrides: str, env: dict[str, str] | None = None) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "shallownet"), "-m", *overrides],
            cwd=folder,
            check=True,
            capture_output=True,
            env=env,
        )
        return time.perf_counter() - start


def depth(iterations: int) -> None:
    """The depth preset, shortened: the launcher's BLAS threads against oversubscribed."""
    its = f"train.iterations={iterations}"
    cores = str(os.cpu_count() or 1)
    variables = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
    oversubscribed = dict(os.environ, **dict.fromkeys(variables, cores))
    rows = [
        (
            "workers with cores/workers BLAS threads",
            sweep("experiment=depth", its),
            "the batched launcher's default",
        ),
        (
            f"workers with {cores} BLAS threads each",
            sweep("experiment=depth", its, env=oversubscribed),
            "as before: each worker's own pool, a thread per core",
        ),
    ]
    print(f"\ndepth preset, 27 runs x {iterations} iterations, tracked; {machine()}\n")
    print(table(rows, rows[0][0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--depth-iterations", type=int, default=200)
    args = parser.parse_args()
    n = args.iterations
    X, Y = sn.datasets.flower()
    start = time.perf_counter()
    for init, scale in (("zeros", 0.0), ("normal", 0.01), ("normal", 1.0)):
        for _activation in ("sigmoid", "tanh", "relu"):  # the loop is tanh-only: same cost
            for seed in range(5):
                params = sn.Network(
                    2, [4], "tanh", init, {"scale": scale} if scale else {}, seed=seed
                ).params
                minimal_loop(X, Y, params, 1.2, n)
    reference = time.perf_counter() - start
    its = f"train.iterations={n}"
    flower = "data=flower"  # the study's flower half: the 45 networks of the loop above
    rows = [
        ("numpy loop x 45", reference, "one after another, untracked"),
        (
            "shallownet -m experiment=main data=flower",
            sweep("experiment=main", flower, its),
            "batched launcher (default: a process per core), tracked: 45 runs, 180 PNGs",
        ),
        (
            "... no figures",
            sweep("experiment=main", flower, its, "tracking.figures=false"),
            "batched, tracked, tracking.figures=false",
        ),
        (
            "... basic launcher",
            sweep("experiment=main", flower, its, "hydra/launcher=basic"),
            "one job after another, tracked",
        ),
        (
            "... untracked",
            sweep("experiment=main", flower, its, "tracking=none"),
            "batched, tracking=none",
        ),
    ]
    print(f"main study on flower, 45 runs x {n} iterations; {machine()}\n")
    print(table(rows, "numpy loop x 45"))
    depth(args.depth_iterations)


if __name__ == "__main__":
    main()
