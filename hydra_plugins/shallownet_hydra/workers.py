"""Worker processes of the batched launcher: where batches of jobs run, never what they do.

A pool of worker processes (``multiprocessing``, each fed batches over its own pipe, so
that one that dies costs its own batch alone) with an explicit start method:

- **fork** where it is safe (Linux, and the launching process runs no other thread): a
  worker starts in milliseconds with everything the launching process imported and
  every plugin it registered (from a module, ``__main__`` or a notebook cell), and
  first lets go of the database connections it inherited;
- **spawn** otherwise (a notebook's kernel runs threads, which fork does not copy):
  a fresh interpreter, which imports what it needs; the plugins registered by a call
  in the launching process (``__main__``, a notebook cell) come with each batch
  (:mod:`shallownet.carried_plugins`), so a spawned worker does not run the caller's
  ``__main__`` as multiprocessing's workers do (a script that calls ``sn.sweep``
  needs no ``if __name__ == "__main__":`` guard).

Each worker shares the cores with the others (``cores / workers`` BLAS threads, set
with threadpoolctl: one process per core, each running a BLAS pool of one thread per
core, slows small matrix products tenfold and more), stops as on SIGTERM when the
launching process dies (even of ``kill -9``), and is stopped with the sweep on an
interrupt. What a worker runs is :func:`execute_batch`: Hydra's ``run_job`` with the
real task function, as Hydra's joblib launcher runs a job.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this package.
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence  # noqa: UP035

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


def start_method() -> str:
    """``fork`` where it is safe (see the module's docstring), else ``spawn``."""
    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


def blas_threads(processes: int) -> int:
    """BLAS threads for each of ``processes`` processes sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // processes)


# The variables a user sets to choose the thread pools' sizes: a choice that is kept.
USER_CHOICE = {"blas": ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "openmp": ("OMP_NUM_THREADS",)}


def limit_blas_threads(threads: int) -> None:
    """This process's BLAS (OpenBLAS, MKL) and OpenMP pools: ``threads`` threads each,
    unless the user chose their size (``OPENBLAS_NUM_THREADS=...`` and the like)."""
    import numpy  # noqa: F401  (its BLAS loaded first: a spawned worker has not yet)
    from threadpoolctl import threadpool_limits

    limits = {
        api: threads
        for api, variables in USER_CHOICE.items()
        if not any(os.environ.get(name) for name in variables)
    }
    if limits:
        threadpool_limits(limits=limits)


def execute_batch(
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: Dict[Any, Any],  # noqa: UP006
) -> JobReturn:
    """Hydra's global state, then ``run_job`` with the real task function (as
    ``hydra_plugins.hydra_joblib_launcher._core.execute_job``)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def payload(hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction) -> bytes:
    """What a worker (or a submitit job) gets for a batch: the plugins registered in this
    process that a fresh one would not have (:mod:`shallownet.carried_plugins`), then
    :func:`execute_batch`'s arguments, cloudpickled (Hydra's global state holds OmegaConf
    resolvers defined inside functions, which the standard pickle cannot serialize)."""
    from shallownet.carried_plugins import pack

    state = Singleton.get_state()
    return bytes(cloudpickle.dumps((pack(), hydra_context, config, task_function, state)))


def execute_payload(
    data: bytes,
    blas: Optional[int] = None,  # noqa: UP045
    leader: Optional[str] = None,  # noqa: UP045
) -> bytes:
    """Run one batch from its payload; the JobReturn cloudpickled back. The batch stops
    when the process that launched it dies: its parent, or ``leader`` where submitit's
    local runner stands between them (:func:`shallownet.interrupts.die_with_parent`)."""
    from shallownet import interrupts, slurm

    interrupts.install(time_limit=slurm.this_job() is not None)
    interrupts.die_with_parent(leader)
    if blas is not None:
        limit_blas_threads(blas)
    from shallownet.carried_plugins import unpack

    try:
        carried, *arguments = pickle.loads(data)
        unpack(carried)
        try:
            ret = execute_batch(*arguments)
        except Exception as exc:  # before its task ran (Hydra could not write the batch's
            ret = JobReturn(status=JobStatus.FAILED, hydra_cfg=arguments[1])  # files: a
            ret.return_value = exc  # full disk): the batch failed, as if its task raised
        return bytes(cloudpickle.dumps(ret))
    except KeyboardInterrupt as exc:
        # Stopped (Ctrl-C, SIGTERM, or the launching process died): this worker must not
        # take the next batch. Its open runs are ended by the sweep's parent run.
        os._exit(interrupts.exit_code(exc))


def _start_worker(method: str, blas: int, count: Any) -> None:
    """A worker's first steps, before it takes a batch: ``count`` is the sweep's count of
    jobs ended (shallownet.progress), shared with the launching process."""
    from shallownet import progress

    if method == "fork" and "mlflow.store.tracking.sqlalchemy_store" in sys.modules:
        from shallownet.tracking.mlflow_internals import forget_inherited_connections

        forget_inherited_connections()
    limit_blas_threads(blas)
    progress.count_jobs(count)


class WorkerDied(Exception):
    """A worker process ended without returning its batch's result."""

    def __init__(self, pid: int, exitcode: Optional[int]) -> None:  # noqa: UP045
        self.pid = pid
        super().__init__(f"worker process {pid} {_how(exitcode)}")


def _how(exitcode: Optional[int]) -> str:  # noqa: UP045
    """How a process ended, from its exit code (-N: killed by signal N)."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        if -exitcode == signal.SIGKILL:
            return f"was killed by {name} (as the kernel does when memory runs out)"
        return f"was killed by {name}"
    if exitcode is not None and exitcode > 128 and exitcode - 128 in signal.valid_signals():
        return f"was stopped by {signal.Signals(exitcode - 128).name}"
    return f"exited with code {exitcode} before its batch ended"


class _Worker:
    """A worker process and the pipe it takes batches on and returns results by."""

    def __init__(self, context: Any, args: Sequence[Any], start: Any) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, *args), name="shallownet-worker"
        )
        with start():
            self.process.start()
        theirs.close()
        self.batch: Optional[int] = None  # noqa: UP045  (the batch it runs)

    def give(self, n: int, data: bytes) -> None:
        self.conn.send_bytes(data)
        self.batch = n

    def result(self) -> bytes:
        """The batch's result; WorkerDied where the process ended without one."""
        try:
            data: bytes = self.conn.recv_bytes()
        except (EOFError, OSError):
            self.process.join()
            raise WorkerDied(self.process.pid, self.process.exitcode) from None
        return data


def _serve(conn: Any, method: str, blas: int, count: Any) -> None:
    """A worker's life: batches taken one after another until the launcher sends an
    empty one (Hydra's joblib launcher also reuses its workers)."""
    _start_worker(method, blas, count)
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        if not data:  # no more batches (a forked worker holds copies of the others'
            return  # pipes, so a pipe closed by the launcher alone might never end)
        conn.send_bytes(execute_payload(data))


def run_in_workers(
    payloads: Sequence[bytes],
    workers: int,
    died: Callable[[int, WorkerDied], JobReturn],
) -> List[JobReturn]:  # noqa: UP006
    """Each payload's JobReturn, run in ``workers`` processes, each taking the next batch
    when it is done with one. A worker that dies (SIGKILL, the kernel's out-of-memory
    killer, a crash) costs its own batch alone: ``died(n, error)`` gives batch ``n``'s
    return, and a new worker takes the batches left. On an interrupt (or any error here)
    every worker is stopped and no further batch starts."""
    from shallownet import interrupts, progress

    method = start_method()
    context = multiprocessing.get_context(method)
    args = (method, blas_threads(workers), progress.counted())
    start = _main_left_out if method == "spawn" else contextlib.nullcontext
    pending = list(enumerate(payloads))[::-1]
    returns: Dict[int, JobReturn] = {}  # noqa: UP006
    pool: List[_Worker] = []  # noqa: UP006
    try:
        while len(returns) < len(payloads):
            idle = [worker for worker in pool if worker.batch is None]
            while pending and (idle or len(pool) < workers):
                worker = idle.pop() if idle else _Worker(context, args, start)
                if worker not in pool:
                    pool.append(worker)
                try:
                    worker.give(*pending[-1])
                    pending.pop()
                except OSError:  # it died while idle: another one takes the batch
                    pool.remove(worker)
            busy = {worker.conn: worker for worker in pool if worker.batch is not None}
            for conn in wait(list(busy)):
                worker = busy[conn]
                n = worker.batch
                assert n is not None
                worker.batch = None
                try:
                    returns[n] = pickle.loads(worker.result())
                except WorkerDied as exc:
                    interrupts.check()  # stopped with the sweep: end as the sweep does
                    pool.remove(worker)
                    returns[n] = died(n, exc)
    except BaseException:  # Ctrl-C, SIGTERM: stop the workers; start no further batch
        stop([worker.process for worker in pool])
        raise
    finally:
        for worker in pool:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(b"")  # an idle worker ends on it
            worker.conn.close()
    for worker in pool:
        worker.process.join()
    return [returns[n] for n in range(len(payloads))]


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """Workers spawned inside start without running the caller's ``__main__`` (a script,
    or a module run with ``python -m``), which multiprocessing runs again in each one
    unless it has neither a file nor a module name: a batch carries what it needs."""
    main = sys.modules.get("__main__")
    names = ("__file__", "__spec__")
    saved = {name: main.__dict__[name] for name in names if main and name in main.__dict__}
    if main is not None:
        main.__dict__.pop("__file__", None)
        main.__spec__ = None
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def stop(processes: Sequence[Any], grace_seconds: float = 30.0) -> None:
    """SIGTERM each worker (each then ends as on Ctrl-C); SIGKILL any still alive after
    ``grace_seconds`` (its runs are then ended by the parent run, as vanished)."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + grace_seconds
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
