"""A Hydra callback for tests: append each job's return value to returns.txt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class RecordReturns(Callback):
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        with (Path(config.hydra.runtime.cwd) / "returns.txt").open("a") as f:
            f.write(f"{job_return.return_value!r}\n")
