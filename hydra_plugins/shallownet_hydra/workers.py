"""Worker processes of the batched launcher: where batches of jobs run, never what they do.

A standard-library process pool (``concurrent.futures``) with an explicit start method:

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
import functools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Dict, Iterator, List, Optional, Sequence  # noqa: UP035

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
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


def execute_payload(data: bytes, blas: Optional[int] = None) -> bytes:  # noqa: UP045
    """Run one batch from its payload; the JobReturn cloudpickled back."""
    from shallownet import interrupts, slurm

    interrupts.install(time_limit=slurm.this_job() is not None)
    _die_with_parent()
    if blas is not None:
        limit_blas_threads(blas)
    from shallownet.carried_plugins import unpack

    try:
        carried, *arguments = pickle.loads(data)
        unpack(carried)
        return bytes(cloudpickle.dumps(execute_batch(*arguments)))
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


@functools.cache  # once per worker process
def _die_with_parent(poll_seconds: float = 1.0, grace_seconds: float = 20.0) -> None:
    """When the launching process dies (even of kill -9), this worker stops as on SIGTERM,
    and exits at the latest ``grace_seconds`` later, instead of training on as an orphan."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="shallownet-orphan-watch", daemon=True).start()


def run_in_workers(payloads: Sequence[bytes], workers: int) -> List[JobReturn]:  # noqa: UP006
    """Each payload's JobReturn, run in ``workers`` processes; on an interrupt (or any
    error here) every worker is stopped and no further batch starts."""
    from shallownet import progress

    method = start_method()
    context = multiprocessing.get_context(method)
    before = set(multiprocessing.active_children())
    returns: Dict[int, JobReturn] = {}  # noqa: UP006
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(method, blas_threads(workers), progress.counted()),
    ) as pool:
        with _main_left_out() if method == "spawn" else contextlib.nullcontext():
            # a spawning pool starts its workers as the batches are submitted
            futures = {pool.submit(execute_payload, data): n for n, data in enumerate(payloads)}
        try:
            for future in as_completed(futures):
                returns[futures[future]] = pickle.loads(future.result())
        except BaseException:  # Ctrl-C, SIGTERM: stop the workers; start no further batch
            stop([p for p in multiprocessing.active_children() if p not in before])
            pool.shutdown(wait=True, cancel_futures=True)
            raise
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
