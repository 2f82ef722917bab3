"""Progress: how far a run is, on a terminal (one line, rewritten in place; silent when
output is not a terminal), and how far a sweep is, in each job's line (``[37/90, about
40 s left]``), counted across the processes that run its jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .train import Callback, TrainState


class Progress(Callback):
    """Show ``label  step i/N  cost c`` at most a few times a second, on a terminal only."""

    every = 50

    def __init__(
        self, label: str = "", stream: TextIO | None = None, interval: float = 0.25
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.interval = interval
        self._last = 0.0

    def on_step(self, state: TrainState) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        width = len(str(state.iterations))
        self.stream.write(
            f"\r{self.label}  step {state.step + 1:>{width}}/{state.iterations}  "
            f"cost {state.cost:.6f}\x1b[K"
        )
        self.stream.flush()

    def on_train_end(self, state: TrainState) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


LOCK_SECONDS = 2.0  # the longest a job's line waits for another's to come out


class SweepCount:
    """How many of a sweep's ``total`` jobs have ended, in a shared integer (a
    ``multiprocessing.Value``, passed to each worker as it starts), and when the sweep
    started; the time left is estimated from the pace so far."""

    def __init__(self, total: int, ended: Any, started: float | None = None) -> None:
        self.total = total
        self.ended = ended
        self.started = time.time() if started is None else started

    def job_ended(self, emit: Callable[[str], None]) -> None:
        """Count one more job ended and emit its place (``[37/90, about 40 s left]``),
        holding the count while it is emitted, so the lines of all processes come out
        in the order of their counts. A count held for seconds belongs to a worker that
        was killed holding it: the line then comes out unordered, never stuck."""
        lock = self.ended.get_lock()
        held = lock.acquire(timeout=LOCK_SECONDS)
        raw = self.ended.get_obj()  # the integer itself (``.value`` would wait for the lock)
        try:
            raw.value += 1
            done = int(raw.value)
            if done >= self.total:
                emit(f"[{done}/{self.total}]")
                return
            left = (time.time() - self.started) / done * (self.total - done)
            emit(f"[{done}/{self.total}, about {duration(left)} left]")
        finally:
            if held:
                lock.release()


def duration(seconds: float) -> str:
    """``8 s``, ``4 min``, ``2.5 h``: a rough span, as an estimate deserves."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


_count: SweepCount | None = None  # the sweep this process runs jobs of, if any


def count_jobs(count: SweepCount | None) -> None:
    """Count the jobs this process ends as jobs of ``count``'s sweep (None: of none)."""
    global _count
    _count = count


def counted() -> SweepCount | None:
    """The count this process adds to (given to the workers it starts)."""
    return _count


def job_ended(emit: Callable[[str], None], line: str) -> None:
    """One more job of the sweep ended: ``emit`` its line, after its place in the sweep
    (``[37/90, about 40 s left] <line>``) inside a counted sweep."""
    if _count is None:
        emit(line)
    else:
        _count.job_ended(lambda place: emit(f"{place} {line}"))
