"""What Slurm says about its jobs: which job this process is, how a job ended, and
cancelling jobs. Only Slurm's own commands (``sacct``, ``squeue``, ``scancel``), so any
host that can run them can tell whether a run's job has ended, wherever it ran.

A job of an array is named as Slurm names it: ``9_0`` (array job 9, task 0); a plain
job by its id (``12``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping

COMMAND_SECONDS = 30  # the longest a Slurm command may take before it counts as failed
# States of a job that has not ended (Slurm's JOB_STATE_BASE and flags sacct shows)
NOT_ENDED = frozenset(
    {"PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING", "CONFIGURING"}
    | {"REQUEUE_FED", "REQUEUE_HOLD", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED"}
)
# How a run whose job ended without ending it ends: FAILED where the job failed, else
# KILLED (cancelled, timed out, or ended with the run still open)
FAILED_STATES = frozenset({"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"})


def this_job(environ: Mapping[str, str] | None = None) -> str | None:
    """The Slurm job this process runs in (``9_0``), or None outside Slurm."""
    env = os.environ if environ is None else environ
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return env.get("SLURM_JOB_ID") or None


def available() -> bool:
    """Whether this host has Slurm's commands."""
    return shutil.which("squeue") is not None


def _run(argv: list[str]) -> str | None:
    """A Slurm command's output, or None if it failed (not installed, no controller, no
    accounting)."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def states(jobs: Iterable[str]) -> dict[str, str] | None:
    """Each job's state from Slurm's accounting (``{"9_0": "CANCELLED by 0"}``); a job
    accounting does not list is left out. None where ``sacct`` cannot answer."""
    wanted = sorted(set(jobs))
    if not wanted:
        return {}
    argv = ["sacct", "-X", "-n", "-P", "-o", "JobID,State"]
    for job in wanted:
        argv += ["-j", job]
    out = _run(argv)
    if out is None:
        return None
    found: dict[str, str] = {}
    for line in out.splitlines():
        job, _, state = line.partition("|")
        if job in wanted:
            found[job] = state.strip()
    return found


def queued(jobs: Iterable[str]) -> set[str] | None:
    """Which of the jobs are still pending or running (``squeue``); None where it cannot
    answer."""
    wanted = set(jobs)
    if not wanted:
        return set()
    out = _run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(sorted(wanted))])
    if out is None:
        return None
    return {line.strip() for line in out.splitlines()} & wanted


def ended(state: str) -> bool:
    """Whether a state sacct shows is one of a job that has ended."""
    return _base(state) not in NOT_ENDED


def _base(state: str) -> str:
    return state.split()[0].rstrip("+") if state.strip() else "PENDING"


def run_status(state: str) -> str:
    """The status of a run whose job ended in ``state`` without ending it."""
    return "FAILED" if _base(state) in FAILED_STATES else "KILLED"


def cancel(jobs: Iterable[str]) -> None:
    """Cancel jobs (pending or running); those that have ended are left as they are."""
    wanted = sorted(set(jobs))
    if wanted:
        _run(["scancel", *wanted])
