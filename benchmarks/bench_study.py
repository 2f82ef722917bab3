"""The main study's flower half end to end: `shallownet -m experiment=main data=flower`
(9 configs x 5 seeds x 10,000 iterations, tracked in a fresh SQLite store) vs the 45
networks one after another in the minimal numpy loop, untracked.

    python benchmarks/bench_study.py [--iterations 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import shallownet as sn
from benchmarks.common import machine, minimal_loop, table

BIN = Path(sys.executable).parent


def sweep(*overrides: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "shallownet"), "-m", *overrides],
            cwd=folder,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
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


if __name__ == "__main__":
    main()
