"""A fully tracked run (MLflow on SQLite: params, metric curves, four figures,
history table) vs the same run untracked, both with diagnostics every 10 steps.
Also: one ``log_metric`` call per point vs ``log_batch``, on the same store.

    python benchmarks/bench_tracking.py [--iterations 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from benchmarks.common import machine, median_time, table
from shallownet.config import store_configs
from shallownet.job import Job
from shallownet.lifecycle import run
from shallownet.settings import Settings
from shallownet.tracking.store import prepare
from shallownet.validate import validate


def settings(folder: Path, *overrides: str) -> Settings:
    """The settings the command line would give these overrides (composed by Hydra)."""
    from hydra import compose, initialize_config_module

    store_configs()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        cfg = compose("config", overrides=["tracking.experiment=bench", *overrides])
    return validate(cfg, folder)


def one_run(s: Settings, folder: Path) -> None:
    """One job through the lifecycle every launcher uses (shallownet.lifecycle.run)."""
    job = Job(s, "bench", (), 0, False, str(folder), str(folder), {})
    run([job])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="print where a tracked run spends its time"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="shallownet-bench-"))
    uri = f"sqlite:///{folder}/mlflow.db"
    its = f"train.iterations={args.iterations}"
    untracked = settings(folder, its, "tracking=none")
    tracked = settings(folder, its, f"tracking.uri={uri}")
    no_figures = settings(folder, its, f"tracking.uri={uri}", "tracking.figures=false")
    assert tracked.tracking is not None
    prepare(tracked.tracking)  # the store is created once, before anything is timed

    rows = [
        (
            "untracked",
            median_time(lambda: one_run(untracked, folder), args.repeats),
            "train + diagnostics/10",
        ),
        (
            "tracked",
            median_time(lambda: one_run(tracked, folder), args.repeats),
            "MLflow SQLite: params, ~100-point curves, 4 PNGs, history.csv",
        ),
        (
            "tracked, no figures",
            median_time(lambda: one_run(no_figures, folder), args.repeats),
            "tracking.figures=false",
        ),
    ]
    print(f"one run, flower, n_h=4, tanh, {args.iterations} iterations; {machine()}\n")
    print(table(rows, "untracked"))

    client = MlflowClient(uri)
    run_id = client.create_run(prepare(tracked.tracking)).info.run_id
    n = 200
    start = time.perf_counter()
    for i in range(n):
        client.log_metric(run_id, "one_by_one", 0.5, step=i)
    per_call = (time.perf_counter() - start) / n
    points = [Metric("batched", 0.5, 0, i) for i in range(5000)]
    start = time.perf_counter()
    for k in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[k : k + 1000])
    per_point = (time.perf_counter() - start) / len(points)
    print(
        f"\nMLflow on SQLite: log_metric {per_call * 1e3:.2f} ms per point; "
        f"log_batch {per_point * 1e3:.3f} ms per point ({per_call / per_point:.0f}x fewer)"
    )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        one_run(tracked, folder)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print("\n" + out.getvalue())


if __name__ == "__main__":
    main()
