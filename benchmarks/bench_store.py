"""What recording one run costs in MLflow's SQLite store, call by call: the floor
under a tracked sweep of many small runs.

Each run gets what shallownet writes for a 100-step run: ``create_run`` with 8 tags,
``log_batch`` of 30 params, ``log_batch`` of 246 metric points, summaries and the
description, ``log_artifacts`` of 3 small files, ``set_terminated``. Measured in one
process and in two processes writing one store at once, with SQLite's rollback
journal (MLflow's default) and with its write-ahead log (what shallownet sets).

    python -m benchmarks.bench_store [--runs 100]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.common import machine

T = TypeVar("T")
CALLS = ("create_run", "log_batch params", "log_batch metrics", "log_artifacts", "set_terminated")


def record_runs(uri: str, runs: int, name: str) -> dict[str, float]:
    """Record ``runs`` runs in experiment ``name``; seconds spent in each call, summed, and
    in all (``wall``)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from shallownet.vocabulary import NOTE_TAG

    spent = dict.fromkeys(CALLS, 0.0)

    def timed(call: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        spent[call] += time.perf_counter() - start
        return result

    client = MlflowClient(uri)
    params = [Param(f"param{i}", "value") for i in range(30)]
    now = int(time.time() * 1000)
    curves = [Metric("cost", 0.5, now, step) for step in range(100)]
    curves += [Metric(f"metric{k}", 0.5, now, s) for k in range(12) for s in range(0, 100, 10)]
    curves += [Metric(f"summary{k}", 0.1, now, 0) for k in range(26)]
    note = [RunTag(NOTE_TAG, "note")]
    tags = {f"tag{j}": "value" for j in range(8)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        location = (folder / "artifacts").as_uri()
        experiment = client.create_experiment(name, artifact_location=location)
        files = folder / "files"
        files.mkdir()
        for file in ("history.csv", "config.yaml", "overrides.yaml"):
            (files / file).write_text("x" * 2000)
        began = time.perf_counter()
        for i in range(runs):
            run = timed("create_run", client.create_run, experiment, run_name=f"run{i}", tags=tags)
            run_id = run.info.run_id
            timed("log_batch params", client.log_batch, run_id, params=params)
            timed("log_batch metrics", client.log_batch, run_id, metrics=curves, tags=note)
            timed("log_artifacts", client.log_artifacts, run_id, str(files))
            timed("set_terminated", client.set_terminated, run_id, "FINISHED")
        return {"wall": time.perf_counter() - began, **spent}


def fresh_store(folder: Path, journal: str) -> str:
    from shallownet.tracking.sqlite import create

    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    create(uri, db)  # WAL
    con = sqlite3.connect(db)
    con.execute(f"pragma journal_mode={journal}")
    con.close()
    return uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)  # uri, experiment
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(record_runs(args.worker[0], args.runs, args.worker[1])))
        return
    print(f"recording runs in MLflow's SQLite store, {args.runs} runs per process; {machine()}\n")
    header = " | ".join(f"{call} (ms)" for call in CALLS)
    print(f"| journal | processes | runs/s | {header} |")
    print("|---|---|---|" + "---|" * len(CALLS))
    for journal in ("delete", "wal"):
        for processes in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                uri = fresh_store(Path(folder), journal)
                me = [sys.executable, "-m", "benchmarks.bench_store", "--runs", str(args.runs)]
                workers = [
                    subprocess.Popen(
                        [*me, "--worker", uri, f"experiment{p}"], stdout=subprocess.PIPE, text=True
                    )
                    for p in range(processes)
                ]
                results = [json.loads(w.communicate()[0]) for w in workers]
            rate = processes * args.runs / max(r["wall"] for r in results)
            per_call = " | ".join(
                f"{1000 * sum(r[call] for r in results) / (processes * args.runs):.1f}"
                for call in CALLS
            )
            print(f"| {journal} | {processes} | {rate:.1f} | {per_call} |")


if __name__ == "__main__":
    main()
