"""Worker processes of the batched launcher share the cores instead of oversubscribing them."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from hydra_plugins.shallownet_hydra import workers


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return sorted(
        {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
    )


def _in_a_worker(blas: int) -> list[int]:
    method = workers.start_method()  # fork where this process runs no other thread
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=workers._start_worker, initargs=(method, blas, None)
    ) as pool:
        return pool.submit(_blas_threads).result()


def test_a_worker_gets_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert workers.blas_threads(os.cpu_count() or 1) == 1  # a worker per core: one each
    assert workers.blas_threads(1) == (os.cpu_count() or 1)
    assert _in_a_worker(1) == [1]


def test_the_users_choice_of_threads_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a BLAS pool of 2 threads cannot be told from one of 1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert _in_a_worker(1) == [2]  # the user's 2, not the launcher's 1
