"""Which process owns a run, and ending runs whose process is gone.

Every run shallownet opens carries ``shallownet.host`` and
``shallownet.process`` (pid and start time), and, in a Slurm job,
``shallownet.slurm_job`` (``9_0``). A process killed with ``kill -9`` (or by the
kernel, or by Slurm) cannot end its runs; the next command on the same store (a
sweep, a resume, a report) finds them RUNNING and ends them:

- a run of this host whose process no longer exists: KILLED, ``process vanished``;
- a run of any host whose Slurm job has ended (as ``sacct``, or ``squeue``, says
  on this host): KILLED, or FAILED where the job failed, with Slurm's state in the
  reason (``Slurm job 9_0 ended (CANCELLED by 0) before this run did``).

Other runs of other hosts are left alone (:func:`running_elsewhere` counts them):
from here nothing tells whether their process still runs.
"""

from __future__ import annotations

import functools
import os
import socket
from collections import Counter

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from .. import slurm
from ..processes import alive, descends_from, this_process
from ..vocabulary import HOST_TAG, PROCESS_TAG, SLURM_JOB_TAG
from .runs import end_run, search


@functools.cache
def host() -> str:
    return socket.gethostname()


def owner_tags() -> dict[str, str]:
    """The tags that name this process (and its Slurm job) as a run's owner."""
    tags = {HOST_TAG: host(), PROCESS_TAG: this_process()}
    if (job := slurm.this_job()) is not None:
        tags[SLURM_JOB_TAG] = job
    return tags


def of_another_command(run: Run) -> bool:
    """Whether a RUNNING run is another live command's, on this host (a resume of the same
    sweep), rather than this command's own or its workers' (its descendants). A run of a
    Slurm job, or of another host, is taken as this command's: its sweep ends it."""
    if run.data.tags.get(HOST_TAG) != host() or run.data.tags.get(SLURM_JOB_TAG):
        return False
    process = str(run.data.tags.get(PROCESS_TAG, ""))
    pid_text = process.partition(":")[0]
    if not pid_text.isdigit() or not alive(process):
        return False
    return not descends_from(int(pid_text), os.getpid())


def end_vanished(client: MlflowClient, experiment_id: str) -> int:
    """End the RUNNING runs whose owner is gone (see the module); return how many."""
    running = search(client, experiment_id, "attributes.status = 'RUNNING'")
    in_jobs = [run for run in running if run.data.tags.get(SLURM_JOB_TAG)]
    done = _end_ended_jobs(client, in_jobs) if in_jobs and slurm.available() else set()
    for run in running:
        if run.data.tags.get(HOST_TAG) != host() or run.info.run_id in done:
            continue
        process = run.data.tags.get(PROCESS_TAG, "")
        if alive(process):
            continue
        pid = process.partition(":")[0]
        reason = (
            f"process vanished: {host()} pid {pid} ended without ending its run "
            f"(it was killed, or could not write to the store)"
        )
        end_run(client, run.info.run_id, "KILLED", reason)
        done.add(run.info.run_id)
    return len(done)


def end_runs_of_process(uri: str, experiment: str, pid: int, reason: str) -> int:
    """End FAILED, with ``reason``, the RUNNING runs process ``pid`` of this host owned
    (a worker its launcher saw die); return how many."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return 0
    where = (
        f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host()}' "
        f"and tags.`{PROCESS_TAG}` LIKE '{int(pid)}:%'"
    )
    runs = search(client, found.experiment_id, where)
    for run in runs:
        end_run(client, run.info.run_id, "FAILED", reason)
    return len(runs)


def _end_ended_jobs(client: MlflowClient, runs: list[Run]) -> set[str]:
    """End the runs whose Slurm job has ended; return their ids."""
    ends = _ended_jobs({str(run.data.tags[SLURM_JOB_TAG]) for run in runs})
    done = set()
    for run in runs:
        job = str(run.data.tags[SLURM_JOB_TAG])
        if job in ends:
            status, how = ends[job]
            reason = f"Slurm job {job} ended ({how}) before this run did"
            end_run(client, run.info.run_id, status, reason)
            done.add(run.info.run_id)
    return done


def _ended_jobs(jobs: set[str]) -> dict[str, tuple[str, str]]:
    """The jobs that have ended: the status of a run they left open, and how Slurm's
    accounting says they ended (without accounting, the queue says which, not how)."""
    states = slurm.states(jobs)
    if states is not None:
        return {job: (slurm.run_status(s), s) for job, s in states.items() if slurm.ended(s)}
    queued = slurm.queued(jobs)
    if queued is None:
        return {}
    return dict.fromkeys(jobs - queued, ("KILLED", "no longer queued; sacct cannot say how"))


def running_elsewhere(client: MlflowClient, experiment_id: str) -> Counter[str]:
    """The RUNNING runs of other hosts, by host: after :func:`end_vanished`, those that
    nothing here can end (their Slurm job runs, or they have none)."""
    running = search(client, experiment_id, "attributes.status = 'RUNNING'")
    return Counter(
        str(run.data.tags.get(HOST_TAG, "an unknown host"))
        for run in running
        if run.data.tags.get(HOST_TAG) != host()
    )
