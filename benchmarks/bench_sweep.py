"""What a sweep costs before training: composing and validating its jobs.

- the main study (45 jobs): time to plan (compose once per set of group
  choices, validate every job), in process; and the whole command with one
  training step per job and nothing recorded;
- a 2,000-job sweep whose last job has a bad seed (``seed=0,1,...,1998,-1``):
  time until the command refuses it (exit code 2, nothing written);
- a 250,000-job sweep (500 seeds x 500 learning rates, the last one bad): time and
  peak memory until the command refuses it;
- a 2,000-job sweep of tiny networks (100 steps each), tracked in a fresh SQLite
  store without figures: when its launch starts (after planning and validation),
  when its last run ends, when the command ends (after the sweep's report), and
  the runs recorded per second after validation.

    python -m benchmarks.bench_sweep [--tracked-jobs 2000]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

BIN = Path(sys.executable).parent


def command(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """``shallownet ARGS`` in a fresh folder: its seconds and what it did."""
    return command_in(str(BIN / "shallownet"), *args)


def command_in(*argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run(list(argv), cwd=folder, capture_output=True, text=True)
        return time.perf_counter() - start, done


def command_peak(*args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Like :func:`command`, with the command's peak memory (MiB), measured by a fresh
    process that runs only it."""
    measure = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)"
    )
    seconds, done = command_in(sys.executable, "-c", measure, str(BIN / "shallownet"), *args)
    *said, peak = done.stderr.strip().splitlines()
    done.stderr = "\n".join(said)
    return seconds, int(peak) / 1024, done


def plan_time(*arguments: str) -> tuple[float, int]:
    """Seconds to compose and validate a sweep in process (Hydra's compose API)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from hydra_plugins.shallownet_hydra.sweeper import register_hydra_plugins
    from shallownet.config import store_configs
    from shallownet.plan import plan

    store_configs()
    register_hydra_plugins()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        presets = [a for a in arguments if a.startswith("experiment=")]  # not a sweep
        cfg = compose("config", overrides=presets, return_hydra_config=True)
        params = {str(k): str(v) for k, v in (cfg.hydra.sweeper.params or {}).items()}
        start = time.perf_counter()
        _, jobs = plan(cfg, GlobalHydra.instance().config_loader(), params, list(arguments))
        return time.perf_counter() - start, len(jobs)


def tracked_sweep(jobs: int) -> None:
    """The tiny tracked sweep, timed by the moments its output lines appear."""
    args = ["-m", f"seed=range({jobs})", "train.iterations=100", "tracking.figures=false"]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN / "shallownet"), *args],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        launched = last_run = math.nan
        finished = 0
        for line in proc.stdout:
            now = time.perf_counter() - start
            if "Launching" in line:
                launched = now
            elif ": FINISHED, final cost" in line:
                finished, last_run = finished + 1, now
        assert proc.wait() == 0
        end = time.perf_counter() - start
    assert finished == jobs, finished
    command_line = f"shallownet {' '.join(args)}"
    print(f"\n{jobs}-job sweep, 100 steps each, tracked (no figures): `{command_line}`\n")
    print("| | seconds from the start |\n|---|---|")
    print(f"| launch (planned and validated) | {launched:.1f} |")
    print(f"| last run ended | {last_run:.1f} |")
    print(f"| command ended (after the sweep's report) | {end:.1f} |")
    print(
        f"\nruns per second after validation: {jobs / (last_run - launched):.1f} to the last "
        f"run, {jobs / (end - launched):.1f} with the report"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracked-jobs", type=int, default=2000)
    args = parser.parse_args()
    print(f"sweep start-up; {machine()}\n")
    print("| | jobs | seconds | |\n|---|---|---|---|")
    seconds, n = plan_time("experiment=main")
    print(f"| plan the main study | {n} | {seconds:.3f} | compose + validate, in process |")
    seconds, many = plan_time("seed=range(2000)")
    print(f"| plan 2,000 jobs | {many} | {seconds:.3f} | compose + validate, in process |")
    seconds, _ = command("--help")
    print(f"| shallownet --help | | {seconds:.2f} | |")
    seconds, done = command("init=hee")
    assert done.returncode == 2, done.stderr
    print(f"| shallownet init=hee | | {seconds:.2f} | refused: {done.stderr.strip()[:40]}... |")
    seeds = ",".join([*map(str, range(1999)), "-1"])
    seconds, done = command("-m", f"seed={seeds}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("shallownet: error: seed=-1 is invalid: "), done.stderr
    print(f"| 2,000-job sweep, one bad value (the last job) | 2000 | {seconds:.2f} | refused |")
    rates = ",".join([*(f"0.{k:03d}" for k in range(1, 500)), "-1"])
    seconds, peak, done = command_peak("-m", "seed=range(500)", f"train.learning_rate={rates}")
    assert done.returncode == 2, done.stderr
    print(
        f"| 250,000-job sweep, one bad learning rate | 250000 | {seconds:.2f} | refused, "
        f"peak {peak:.0f} MiB |"
    )
    seconds, done = command(
        "-m", "experiment=main", "train.iterations=1", "tracking=none", "hydra.launcher.n_jobs=1"
    )
    assert done.returncode == 0, done.stderr
    print(
        f"| shallownet -m experiment=main, 1 step per job | {n} | {seconds:.2f} | "
        f"whole command: start-up, plan, launch, train, untracked |"
    )
    tracked_sweep(args.tracked_jobs)


if __name__ == "__main__":
    main()
