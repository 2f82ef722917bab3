"""Progress on a terminal: one line, rewritten in place; silent when output is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

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
