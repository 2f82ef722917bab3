"""Worker processes of the batched launcher share the cores instead of oversubscribing them."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from hydra_plugins.shallownet_hydra.batched_launcher import BLAS_THREAD_VARIABLES, _blas_threads


def _blas_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}


def test_workers_started_in_the_block_get_the_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's choice is kept
    context = multiprocessing.get_context("spawn")
    with _blas_threads(os.cpu_count() or 1), context.Pool(1) as pool:  # a worker per core
        seen = pool.apply(_blas_environment)
    assert seen == {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"}
    # and this process is left as it was
    assert _blas_environment() == {
        "OPENBLAS_NUM_THREADS": None,
        "MKL_NUM_THREADS": "3",
        "OMP_NUM_THREADS": None,
    }
