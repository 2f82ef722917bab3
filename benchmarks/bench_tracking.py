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
from shallownet import job
from shallownet.config import Choice, Settings, TrackingSettings, default_log_every
from shallownet.task import JobSpec, finish, open_run
from shallownet.tracking.store import prepare


def settings(iterations: int, uri: str | None, figures: bool = True) -> Settings:
    tracking = None
    if uri is not None:
        every = default_log_every(iterations, 10)
        tracking = TrackingSettings(uri, "bench", every, figures, skip_finished=False)
    return Settings(
        seed=0,
        data=Choice("flower", {"n_samples": 400, "seed": 1}),
        test_samples=0,
        test_seed=None,
        init=Choice("normal", {"scale": 0.01}),
        activation=Choice("tanh", {}),
        hidden=(4,),
        dtype="float64",
        learning_rate=1.2,
        iterations=iterations,
        diagnostics_every=10,
        tracking=tracking,
    )


def spec(s: Settings, folder: Path) -> JobSpec:
    return JobSpec(s, ["init=small"], {"init": "small"}, False, 0, str(folder), folder, "{}")


def tracked_run(s: Settings, folder: Path) -> None:
    js = spec(s, folder)
    tracked = open_run(js)
    assert tracked is not None
    result = job.run(s, [tracked.metrics])
    finish(js, tracked, result)


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
    untracked = settings(args.iterations, None)
    tracked = settings(args.iterations, uri)
    no_figures = settings(args.iterations, uri, figures=False)
    assert tracked.tracking is not None
    prepare(tracked.tracking)  # the store is created once, before anything is timed

    rows = [
        (
            "untracked",
            median_time(lambda: job.run(untracked), args.repeats),
            "train + diagnostics/10",
        ),
        (
            "tracked",
            median_time(lambda: tracked_run(tracked, folder), args.repeats),
            "MLflow SQLite: params, ~100-point curves, 4 PNGs, history.csv",
        ),
        (
            "tracked, no figures",
            median_time(lambda: tracked_run(no_figures, folder), args.repeats),
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
        tracked_run(tracked, folder)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print("\n" + out.getvalue())


if __name__ == "__main__":
    main()
