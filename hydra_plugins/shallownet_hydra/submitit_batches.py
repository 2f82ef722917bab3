"""Hydra's submitit launchers (``hydra/launcher=submitit_slurm`` or ``submitit_local``),
given batches instead of single jobs: each batch of compatible jobs (at most
``max_batch`` networks) is one submitit job, which trains them together and records
each, as a worker of the batched launcher does. The executor takes every parameter of
the user's launcher config (partition, timeout_min, cpus_per_task, ...).

The sweep owns the jobs it submitted: when it stops (Ctrl-C, SIGTERM, SIGHUP, an
error) or one of them ends without its result (``scancel``, a node lost, a time
limit), it cancels every job still pending or running and waits, a bounded time, for
them to leave Slurm's queue before its parent run ends, so no run changes status
after its sweep has ended. Slurm's queue is read every second (``squeue``), so a job
that ended is seen at once, with or without Slurm's accounting (with it, ``sacct``
says how it ended)."""

# No `from __future__ import annotations`: Hydra's plugin scan imports this package.
import pickle
import signal
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence  # noqa: UP035

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from shallownet import processes

from .batched_launcher import BatchedLauncher
from .workers import blas_threads, execute_payload

POLL_SECONDS = 1.0  # how often Slurm's queue is read while the sweep waits
RESULT_SECONDS = 10.0  # how long a job out of the queue has to show its result file
STOP_SECONDS = 90  # the longest the sweep waits for cancelled jobs to end (KillWait: 30 s)
BLIND_SECONDS = 600  # the longest the sweep waits on a queue it cannot read


class SubmititBatches(BatchedLauncher):
    def __init__(self, submitit: Any, max_batch: int = 64) -> None:
        from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher

        super().__init__(max_batch=max_batch, n_jobs=1)
        self.submitit = submitit
        self.kind = "local" if isinstance(submitit, LocalLauncher) else "slurm"
        self.config = submitit.config
        self.hydra_context = submitit.hydra_context
        self.task_function = submitit.task_function

    def workers(self) -> int:
        return 1  # a batch is cut only by max_batch: the cluster runs the batches at once

    def memory(self) -> Optional[int]:  # noqa: UP045
        """A Slurm job's memory is what it asks for (not this machine's): its batch is
        sized to it, or, where it asks for none, by max_batch alone."""
        if self.kind == "local":
            return super().memory()
        return job_memory(self.submitit.params)

    def where(self, workers: int) -> str:
        return f"as submitit '{self.kind}' jobs"

    def run(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        # the executor, as hydra_submitit_launcher's BaseSubmititLauncher.launch builds it
        params = dict(self.submitit.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self.kind}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self.kind, **init)
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in common else f"{self.kind}_{k}": v for k, v in params.items()}
        )
        # local jobs share this machine's cores, and stop when this process dies (their
        # parent is submitit's runner, which outlives it); a cluster's have their own
        # cores, and are cancelled by this process (or ended by the next command)
        local = self.kind == "local"
        blas = blas_threads(len(configs)) if local else None
        leader = processes.this_process() if local else None
        payloads = self.payloads(configs)
        n = len(payloads)
        submitted = executor.map_array(execute_payload, payloads, [blas] * n, [leader] * n)
        try:
            if self.kind == "local":
                return [pickle.loads(job.result()) for job in submitted]
            return [pickle.loads(result) for result in slurm_results(submitted)]
        except BaseException:
            stop(submitted, self.kind)
            raise


def slurm_results(jobs: Sequence[Any]) -> List[bytes]:  # noqa: UP006
    """Each Slurm job's result, as soon as it has one; a job that left Slurm's queue
    without one (cancelled, timed out, its node lost) raises :class:`SlurmJobEnded`."""
    from shallownet import slurm

    results: Dict[str, bytes] = {}  # noqa: UP006
    gone: Dict[str, float] = {}  # noqa: UP006  (when a job was first seen out of the queue)
    answered = time.monotonic()  # when squeue last answered
    while len(results) < len(jobs):
        waiting = [job for job in jobs if job.job_id not in results]
        queued = slurm.queued(job.job_id for job in waiting)
        if queued is not None:
            answered = time.monotonic()
        elif time.monotonic() - answered > BLIND_SECONDS:
            msg = (
                f"the sweep cannot see Slurm job {waiting[0].job_id} end: Slurm's queue cannot "
                f"be read (squeue has failed for {BLIND_SECONDS // 60} min); is slurmctld up? "
                "(scontrol ping)"
            )
            raise SlurmJobEnded(msg)
        for job in waiting:
            if job.paths.result_pickle.exists():
                results[job.job_id] = job.result()  # its own error, if it raised one
            elif queued is not None and job.job_id not in queued:
                first = gone.setdefault(job.job_id, time.monotonic())
                if time.monotonic() - first > RESULT_SECONDS:  # room for a shared file system
                    raise _without_result(job.job_id, str(job.paths.stderr))
        time.sleep(POLL_SECONDS)
    return [results[job.job_id] for job in jobs]


class SlurmJobEnded(RuntimeError):
    """A Slurm job of the sweep left the queue without a result (or the queue cannot be
    read, so its end cannot be seen)."""


def _without_result(job: str, log: str) -> SlurmJobEnded:
    """The error for a job that left the queue without its result: how it ended, as
    Slurm's accounting says (without accounting, that it is no longer queued)."""
    from shallownet import slurm

    state = (slurm.states([job]) or {}).get(job, "no longer queued; sacct cannot say how")
    return SlurmJobEnded(f"Slurm job {job} ended ({state}) without its result; its log: {log}")


def stop(jobs: Sequence[Any], kind: str) -> None:
    """Cancel the jobs still pending or running and wait, at most ``STOP_SECONDS``, for
    them to end (their runs end KILLED as they stop; the parent run ends the rest)."""
    import logging

    from shallownet import slurm

    log = logging.getLogger("shallownet")
    if kind == "local":
        _stop_local(jobs)
        return
    ids = [job.job_id for job in jobs]
    left = slurm.queued(ids)
    if left is None:  # the queue cannot be read: cancel them all (an ended one is left alone)
        left = set(ids)
    if not left:
        return
    log.warning(
        "shallownet: cancelling %d Slurm job(s) of this sweep: %s",
        len(left),
        " ".join(sorted(left)),
    )
    slurm.cancel(left)
    deadline = time.monotonic() + STOP_SECONDS
    while left and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        queued = slurm.queued(left)
        left = left if queued is None else queued  # unreadable: wait on, to the deadline
    if left:
        log.warning(
            "shallownet: Slurm job(s) %s still queued %d s after scancel; their runs are ended "
            "KILLED now, and stay so",
            " ".join(sorted(left)),
            STOP_SECONDS,
        )


def _stop_local(jobs: Sequence[Any]) -> None:
    """Stop submitit's local jobs and wait for them to end: SIGTERM to each job's runner,
    which passes it on to its task (``job.cancel`` sends SIGINT, on which the runner
    prints a traceback and kills its task a second later)."""
    runners = [job._process for job in jobs if getattr(job, "_process", None) is not None]
    for runner in runners:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for runner in runners:
        try:
            runner.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            runner.kill()


SLURM_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}  # sbatch --mem: MB by default


def job_memory(params: Dict[str, Any]) -> Optional[int]:  # noqa: UP006, UP045
    """The bytes a Slurm job of these launcher parameters asks for: ``mem_gb``, or
    ``mem_per_cpu`` times ``cpus_per_task``; None where it asks for none (the node's
    default, unknown here)."""
    if params.get("mem_gb"):
        return int(params["mem_gb"]) * 2**30
    per_cpu = str(params.get("mem_per_cpu") or "").upper().removesuffix("B")
    if not per_cpu:
        return None
    unit = SLURM_UNITS.get(per_cpu[-1], 0)
    number = per_cpu[:-1] if unit else per_cpu
    if not number.isdigit():
        return None  # sbatch refuses it, saying why
    return int(number) * (unit or 2**20) * int(params.get("cpus_per_task") or 1)


def batching(launcher: Launcher) -> Launcher:
    """The launcher a shallownet sweep uses: Hydra's submitit launchers get batches of
    compatible jobs (:class:`SubmititBatches`); any other launcher is used as it is."""
    if type(launcher).__module__.startswith("hydra_plugins.hydra_submitit_launcher"):
        return SubmititBatches(launcher)
    return launcher
