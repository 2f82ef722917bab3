"""The cost of recording, start-up and stores, against the targets of docs (DESIGN), side
by side in one run: each case and its reference alternate (A B A B ...) and the table
gives medians, so that this machine's drift within the run slows both alike.

- the main study's flower half (45 runs x 10,000 steps) tracked (every metric, the
  figures, the view and the report), tracked without figures, and untracked; and the
  same 45 networks in the minimal numpy loop, one after another;
- a 1,000-job sweep of 100-step networks, tracked without figures and untracked: the
  recording each run costs;
- a one-step single run in a folder without a store (it creates one) and with one.

    python -m benchmarks.bench_targets [--repeats 2] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import shallownet as sn
from benchmarks.common import machine, minimal_loop

BIN = Path(sys.executable).parent
STUDY = ("-m", "experiment=main", "data=flower")


def command(*args: str, folder: Path | None = None) -> float:
    """Wall seconds of one ``shallownet`` command (in a new folder unless given one)."""
    with tempfile.TemporaryDirectory() as new:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "shallownet"), *args],
            cwd=folder or new,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def loops(iterations: int = 10_000) -> float:
    """The study's 45 networks in the minimal numpy loop, one after another."""
    X, Y = sn.datasets.flower()
    start = time.perf_counter()
    for init, scale in (("zeros", 0.0), ("normal", 0.01), ("normal", 1.0)):
        for _activation in range(3):  # the loop is tanh-only: the same cost for each
            for seed in range(5):
                kwargs = {"scale": scale} if scale else {}
                params = sn.Network(2, [4], "tanh", init, kwargs, seed=seed).params
                minimal_loop(X, Y, params, 1.2, iterations)
    return time.perf_counter() - start


def alternate(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Each case's median over ``repeats``, the cases run in turn."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            times[name].append(case())
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    study = alternate(
        {
            "tracked": lambda: command(*STUDY),
            "no figures": lambda: command(*STUDY, "tracking.figures=false"),
            "untracked": lambda: command(*STUDY, "tracking=none"),
            "loops": loops,
        },
        args.repeats,
    )
    sweep = (f"seed=range({args.jobs})", "train.iterations=100")
    big = alternate(
        {
            "tracked": lambda: command("-m", *sweep, "tracking.figures=false"),
            "untracked": lambda: command("-m", *sweep, "tracking=none"),
        },
        1,
    )
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        command("train.iterations=1", folder=here)  # the store, once
        single = alternate(
            {
                "new store": lambda: command("train.iterations=1"),
                "existing store": lambda: command("train.iterations=1", folder=here),
            },
            max(3, args.repeats),
        )
    per_run_ms = (big["tracked"] - big["untracked"]) / args.jobs * 1000
    tracked, untracked = study["tracked"], study["untracked"]
    new, existing = single["new store"], single["existing store"]
    rows = [
        ("45-run study tracked / untracked", "<= 1.25x", f"{tracked / untracked:.2f}x"),
        ("... without figures", "<= 1.1x", f"{study['no figures'] / untracked:.2f}x"),
        ("untracked / 45 numpy loops", "<= 0.3x", f"{untracked / study['loops']:.2f}x"),
        ("a new store, over an existing one", "<= 0.25 s", f"{new - existing:+.2f} s"),
        (f"{args.jobs}-job sweep: recording a run", "<= 10 ms", f"{per_run_ms:.1f} ms"),
        ("one-step single run with a store", "<= 1.5 s", f"{existing:.2f} s"),
    ]
    print(f"{machine()}; medians of {args.repeats} alternating runs\n")
    print("| target | goal | measured |\n|---|---|---|")
    for name, goal, measured in rows:
        print(f"| {name} | {goal} | {measured} |")
    print("\nseconds:", {k: round(v, 2) for k, v in {**study, **single}.items()})
    print(f"{args.jobs} jobs:", {k: round(v, 2) for k, v in big.items()})


if __name__ == "__main__":
    main()
