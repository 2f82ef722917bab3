"""What a sweep costs before training: composing and validating its jobs.

- the main study (45 jobs): time to plan (compose once per set of group
  choices, validate every job), in process; and the whole command with one
  training step per job and nothing recorded;
- a 2,000-job sweep whose last job has a bad seed (``seed=0,1,...,1998,-1``):
  time until the command refuses it (exit code 2, nothing written).

    python -m benchmarks.bench_sweep
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

BIN = Path(sys.executable).parent


def command(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "shallownet"), *args], cwd=folder, capture_output=True, text=True
        )
        return time.perf_counter() - start, done


def plan_time(*arguments: str) -> tuple[float, int]:
    """Seconds to compose and validate a sweep in process (Hydra's compose API)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from shallownet.cli import register_plugins
    from shallownet.config import store_configs
    from shallownet.sweep import plan

    store_configs()
    register_plugins()
    with initialize_config_module("shallownet.conf", version_base="1.3"):
        presets = [a for a in arguments if a.startswith("experiment=")]  # not a sweep
        cfg = compose("config", overrides=presets, return_hydra_config=True)
        params = {str(k): str(v) for k, v in (cfg.hydra.sweeper.params or {}).items()}
        start = time.perf_counter()
        _, jobs = plan(cfg, GlobalHydra.instance().config_loader(), params, list(arguments))
        return time.perf_counter() - start, len(jobs)


def main() -> None:
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
    assert done.stderr.strip() == "shallownet: error: seed=-1 is invalid: must be an integer >= 0"
    print(f"| 2,000-job sweep, one bad value (the last job) | 2000 | {seconds:.2f} | refused |")
    seconds, done = command(
        "-m", "experiment=main", "train.iterations=1", "tracking=none", "hydra.launcher.n_jobs=1"
    )
    assert done.returncode == 0, done.stderr
    print(
        f"| shallownet -m experiment=main, 1 step per job | {n} | {seconds:.2f} | "
        f"whole command: start-up, plan, launch, train, untracked |"
    )


if __name__ == "__main__":
    main()
