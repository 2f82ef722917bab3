"""Progress: how far a run is, on a terminal (one line, rewritten in place; silent when
output is not a terminal), and how far a sweep is, in each job's line (``[37/90, about
40 s left]``), counted across the processes that run its jobs."""

from __future__ import annotations

import sys
import time
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


class SweepCount:
    """How many of a sweep's ``total`` jobs have ended, in a shared integer (a
    ``multiprocessing.Value``, passed to each worker as it starts), and when the sweep
    started; the time left is estimated from the pace so far."""

    def __init__(self, total: int, ended: Any, started: float | None = None) -> None:
        self.total = total
        self.ended = ended
        self.started = time.time() if started is None else started

    def job_ended(self) -> str:
        """Count one more job ended: ``[37/90, about 40 s left]``."""
        with self.ended.get_lock():
            self.ended.value += 1
            done = int(self.ended.value)
        if done >= self.total:
            return f"[{done}/{self.total}]"
        left = (time.time() - self.started) / done * (self.total - done)
        return f"[{done}/{self.total}, about {duration(left)} left]"


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


def job_ended() -> str:
    """One more job of the sweep ended: its place (``[37/90, about 40 s left] ``), or ''
    outside a counted sweep."""
    return "" if _count is None else _count.job_ended() + " "
