"""Shared pieces of the benchmarks: the reference loop, timing, tables."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]


def minimal_loop(
    X: Array, Y: Array, params: dict[str, Array], lr: float, iterations: int
) -> float:
    """The course's loop, hand-written: tanh hidden layer, sigmoid output, cost every step."""
    W1, b1, W2, b2 = (params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    m = X.shape[1]
    cost = 0.0
    for _ in range(iterations):
        Z1 = W1 @ X + b1
        A1 = np.tanh(Z1)
        Z2 = W2 @ A1 + b2
        A2 = 1 / (1 + np.exp(-Z2))
        cost = float(-np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)))
        dZ2 = A2 - Y
        dW2 = dZ2 @ A1.T / m
        db2 = dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = W2.T @ dZ2 * (1 - A1**2)
        dW1 = dZ1 @ X.T / m
        db1 = dZ1.sum(axis=1, keepdims=True) / m
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
    return cost


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` runs."""
    return median_times({"fn": fn}, repeats, warmup)["fn"]


def median_times(
    cases: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each case, run in turn (a, b, c, a, b, c, ...) so that a
    machine whose speed drifts within the run slows every case alike."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def table(rows: list[tuple[str, float, str]], reference: str, unit: str = "s") -> str:
    """A Markdown table: name, median time, ratio to the reference row, note."""
    ref = {name: t for name, t, _ in rows}[reference]
    lines = [f"| | median ({unit}) | ratio to {reference} | |", "|---|---|---|---|"]
    for name, t, note in rows:
        lines.append(f"| {name} | {t:.4g} | {t / ref:.2f}x | {note} |")
    return "\n".join(lines)


def machine() -> str:
    import platform

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
