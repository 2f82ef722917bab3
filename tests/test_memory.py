"""The memory a job needs: the estimate against the peak measured while networks train,
the limit a memory cgroup sets, and batches the launcher cuts to fit it."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hydra_plugins.shallownet_hydra.batched_launcher import split
from hydra_plugins.shallownet_hydra.submitit_batches import job_memory
from shallownet import datasets
from shallownet import diagnostics as diagnostics_module
from shallownet.diagnostics import RecordDiagnostics, symmetry_of
from shallownet.network import Network
from shallownet.stack import train_stack
from shallownet.validate import (
    GENERATION_FACTOR,
    LOOP_BYTES,
    _cgroup_room,
    memory_needed,
    pairs_bound,
    pairs_memory,
)

from .cli_helpers import BIN, written
from .store_helpers import parents_and_children

# (hidden, examples, networks, iterations, diagnostics every, test examples, activation,
# dtype): wide and deep networks, alone and stacked, long and densely recorded runs
SHAPES = [
    ((4,), 400, 1, 10, 10, 0, "tanh", "float64"),
    ((4,), 400, 64, 10, 10, 0, "tanh", "float64"),
    ((500,), 400, 1, 5, 10, 0, "tanh", "float64"),
    ((2000,), 400, 1, 2, 10, 0, "tanh", "float64"),
    ((100,), 20000, 1, 3, 10, 0, "tanh", "float64"),
    ((100,), 5000, 8, 3, 10, 0, "tanh", "float64"),
    ((4,), 400, 1, 5000, 10, 0, "tanh", "float64"),
    ((4,), 400, 1, 2000, 1, 0, "tanh", "float64"),
    ((50, 20), 5000, 4, 3, 10, 0, "tanh", "float64"),
    ((300,), 2000, 2, 3, 10, 2000, "tanh", "float64"),
    ((64, 64, 64), 3000, 4, 3, 10, 0, "relu", "float64"),
    ((200,), 5000, 4, 3, 10, 0, "sigmoid", "float32"),
]


def measured_and_estimated(
    hidden: tuple[int, ...],
    m: int,
    networks: int,
    iterations: int,
    every: int,
    test: int,
    activation: str,
    dtype: str,
) -> tuple[int, int]:
    """The peak bytes allocated (tracemalloc) while the data is loaded and the networks
    train together with every diagnostic, and the estimate validation makes of them."""
    warm_up()
    n_x = 2 if len(hidden) == 1 else 20
    tracemalloc.start()
    try:
        X, Y = datasets.load("gaussian_quantiles", n_samples=m, n_features=n_x)
        X_test = Y_test = None
        if test:
            X_test, Y_test = datasets.load(
                "gaussian_quantiles", n_samples=test, n_features=n_x, seed=2
            )
        nets = [
            Network(n_x, hidden, activation, "normal", {"scale": 0.01}, seed=s, dtype=dtype)
            for s in range(networks)
        ]
        train_stack(
            nets,
            X,
            Y,
            [0.5] * networks,
            iterations,
            [[] for _ in nets],
            stack_callbacks=[RecordDiagnostics(every, X_test, Y_test)],
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    layers = [n_x, *hidden, 1]
    arrays, history = memory_needed(layers, (m, test), dtype, iterations, every)
    data = sum(a.nbytes for a in (X, Y, X_test, Y_test) if a is not None)
    estimate = networks * (arrays + history) + data + pairs_memory(layers, dtype, networks)
    return peak, estimate + LOOP_BYTES


@functools.cache
def warm_up() -> None:
    """Train once first: a process's first training allocates caches once (about 1 MiB)."""
    X, Y = datasets.load("flower", n_samples=20)
    train_stack([Network(2, (3,))], X, Y, [0.5], 2, [[]], [RecordDiagnostics(1)])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_estimate_is_within_twice_the_measured_peak(shape: tuple) -> None:  # type: ignore[type-arg]
    peak, estimate = measured_and_estimated(*shape)
    assert peak / 2 <= estimate <= 2 * peak, (peak, estimate)


def test_the_batch_bound_holds_the_block_of_pairs_for_any_stack() -> None:
    for layers in ([2, 4, 1], [2, 600, 1], [2, 3000, 1], [20, 700, 700, 1]):
        for networks in (1, 2, 7, 64):
            exact = pairs_memory(layers, "float64", networks)
            per_network, once = pairs_bound(layers, "float64")
            assert exact <= once + networks * per_network


@pytest.mark.parametrize("block", [diagnostics_module.PAIR_BLOCK, 64, 1])
def test_symmetry_by_blocks_of_pairs_equals_all_pairs_at_once(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block size changes the memory, never a number: against every pair's distance
    computed at once, for random units, all-equal units (zero init) and duplicates."""
    monkeypatch.setattr(diagnostics_module, "PAIR_BLOCK", block)
    rng = np.random.default_rng(0)
    for stack in [(), (3,)]:
        for n in (1, 2, 7, 40):
            W1 = rng.standard_normal((*stack, n, 3))
            b1 = rng.standard_normal((*stack, n, 1))
            W2 = rng.standard_normal((*stack, 1, n))
            W1[..., ::2, :], b1[..., ::2, :], W2[..., ::2] = W1[..., :1, :], b1[..., :1, :], 0
            W2[..., :1] = 0
            for params in (
                {"W1": W1, "b1": b1, "W2": W2},
                {"W1": 0 * W1, "b1": 0 * b1, "W2": 0 * W2},
            ):
                U = np.concatenate([params["W1"], params["b1"], params["W2"].swapaxes(-1, -2)], -1)
                D = np.linalg.norm(U[..., :, None, :] - U[..., None, :, :], axis=-1)
                mean_norm = np.linalg.norm(U, axis=-1).mean(axis=-1)
                tol = 1e-6 * mean_norm[..., None, None] + 1e-300
                distinct = n - np.tril(D <= tol, k=-1).any(axis=-1).sum(axis=-1)
                got = symmetry_of({**params, "b2": np.zeros((*stack, 1, 1))}, 2)
                np.testing.assert_array_equal(got["sym_max_pair_dist"], D.max(axis=(-2, -1)))
                np.testing.assert_array_equal(got["distinct_units"], distinct)


def test_a_cgroup_limit_is_read_as_the_room_left(tmp_path: Path) -> None:
    """v1's and v2's files, along the process's own cgroup path (as /proc/self/cgroup
    names it) up to the root: the least room any of them leaves."""
    own = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    for _, controllers, path in own:
        base = tmp_path if controllers == "" else tmp_path / "memory"
        if controllers != "" and "memory" not in controllers.split(","):
            continue
        folder = base / path.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        names = (
            ("memory.max", "memory.current")
            if controllers == ""
            else (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        )
        (folder / names[0]).write_text("max\n" if controllers == "" else f"{2**63 - 4096}\n")
        (folder / names[1]).write_text("1000\n")
        (base / names[0]).write_text(f"{5 * 2**30}\n")  # the limit is set above
        (base / names[1]).write_text(f"{2**30}\n")
    assert _cgroup_room(tmp_path) == 4 * 2**30
    assert _cgroup_room(tmp_path / "absent") is None


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """A real memory cgroup of ``limit`` bytes (v2, or v1's memory controller), removed
    after: its ``cgroup.procs`` takes the processes to confine."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    unified = v2.is_file() and "memory" in v2.read_text().split()
    root = Path("/sys/fs/cgroup") if unified else Path("/sys/fs/cgroup/memory")
    folder = root / f"shallownet-test-{os.getpid()}"
    folder.mkdir()
    try:
        (folder / ("memory.max" if unified else "memory.limit_in_bytes")).write_text(str(limit))
        yield folder
    finally:
        folder.rmdir()


def cannot_confine() -> str | None:
    if os.geteuid() != 0:
        return "making a memory cgroup takes root"
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory")):
        if os.access(root, os.W_OK) and (root / "cgroup.procs").exists():
            return None
    return "no writable memory cgroup hierarchy"


def confined(group: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``shallownet ARGS`` run inside the cgroup ``group``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHALLOWNET_", "HYDRA_"))}

    def enter() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return subprocess.run(
        [str(BIN / "shallownet"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        preexec_fn=enter,
    )


MIB = 2**20


@pytest.mark.slow
@pytest.mark.skipif(cannot_confine() is not None, reason=str(cannot_confine()))
def test_in_a_container_a_network_too_large_for_its_limit_is_refused(tmp_path: Path) -> None:
    """A network that this machine's memory holds but the cgroup's limit does not is
    refused in one line (it was killed by the kernel with no message), nothing written."""
    with memory_cgroup(900 * MIB) as group:
        result = confined(group, tmp_path, "model.hidden=[60000]", "train.iterations=3")
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        "shallownet: error: model.hidden=[60000] is invalid: a network this size needs about "
    )
    assert "this process's memory cgroup (a container's or a job's limit) leaves" in line
    assert written(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(cannot_confine() is not None, reason=str(cannot_confine()))
def test_in_a_container_a_sweep_is_cut_into_batches_that_fit(tmp_path: Path) -> None:
    """16 networks that would need more than the limit trained together are cut into
    batches that fit, and every job FINISHES (in one batch, the kernel killed them)."""
    with memory_cgroup(1000 * MIB) as group:
        result = confined(
            group,
            tmp_path,
            "-m",
            "seed=range(16)",
            "model.hidden=[4000]",
            "train.iterations=2",
            "tracking.figures=false",
            "hydra.launcher.n_jobs=1",
        )
    assert result.returncode == 0, result.stderr
    launched = next(line for line in result.stdout.splitlines() if "Launching 16 jobs" in line)
    batches = int(launched.split(" as ")[1].split()[0])
    assert 2 <= batches < 16, launched
    _, children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert sorted(c.info.status for c in children) == ["FINISHED"] * 16


@pytest.mark.parametrize("name", [n for n in datasets.names() if n != "csv"])
def test_a_data_set_drawn_by_size_is_estimated_within_2x_of_its_peak(name: str) -> None:
    """What validation refuses a data set for before generating it (GENERATION_FACTOR
    times the floats it keeps) holds within 2x of the peak measured while it is drawn."""
    n = 100_000
    tracemalloc.start()
    try:
        X, _ = datasets.load(name, n_samples=n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = n * (X.shape[0] + 1) * 8 * GENERATION_FACTOR
    assert peak <= estimate <= 2.1 * peak, (peak, estimate)


def test_a_slurm_jobs_batches_are_sized_to_the_memory_it_asks_for() -> None:
    """Under submitit_slurm a batch fits the memory its job asks Slurm for (mem_gb, or
    mem_per_cpu times cpus_per_task), not the launching machine's."""
    gib, mib = 2**30, 2**20
    assert job_memory({"mem_gb": 4}) == 4 * gib
    assert job_memory({"mem_per_cpu": "2G", "cpus_per_task": 3}) == 6 * gib
    assert job_memory({"mem_per_cpu": "512"}) == 512 * mib  # sbatch's unit: MB
    assert job_memory({"mem_gb": None, "mem_per_cpu": None}) is None  # the node's default
    jobs = [SimpleNamespace(network_memory=100 * mib, batch_memory=0)] * 40
    assert [len(b) for b in split([jobs], 64, 1, 2048 * mib)] == [16, 16, 8]  # 80% of 2 GiB
    assert [len(b) for b in split([jobs], 64, 1, None)] == [40]  # max_batch alone
