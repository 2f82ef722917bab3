"""Hydra's submitit launchers (``hydra/launcher=submitit_slurm`` or ``submitit_local``),
given batches instead of single jobs: each batch of compatible jobs (at most
``max_batch`` networks) is one submitit job, which trains them together and records
each, as a worker of the batched launcher does. The executor takes every parameter of
the user's launcher config (partition, timeout_min, cpus_per_task, ...)."""

# No `from __future__ import annotations`: Hydra's plugin scan imports this package.
import pickle
from typing import Any, List  # noqa: UP035

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from .batched_launcher import BatchedLauncher
from .workers import blas_threads, execute_payload


class SubmititBatches(BatchedLauncher):
    def __init__(self, submitit: Any, max_batch: int = 64) -> None:
        from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher

        super().__init__(max_batch=max_batch, n_jobs=1)
        self.submitit = submitit
        self.kind = "local" if isinstance(submitit, LocalLauncher) else "slurm"
        self.config = submitit.config
        self.hydra_context = submitit.hydra_context
        self.task_function = submitit.task_function

    def workers(self) -> int:
        return 1  # a batch is cut only by max_batch: the cluster runs the batches at once

    def where(self, workers: int) -> str:
        return f"as submitit '{self.kind}' jobs"

    def run(self, configs: List[DictConfig], workers: int) -> List[JobReturn]:  # noqa: UP006
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        # the executor, as hydra_submitit_launcher's BaseSubmititLauncher.launch builds it
        params = dict(self.submitit.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self.kind}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self.kind, **init)
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in common else f"{self.kind}_{k}": v for k, v in params.items()}
        )
        # local jobs share this machine's cores; a cluster's have their own
        blas = blas_threads(len(configs)) if self.kind == "local" else None
        payloads = self.payloads(configs)
        submitted = executor.map_array(execute_payload, payloads, [blas] * len(payloads))
        return [pickle.loads(job.result()) for job in submitted]


def batching(launcher: Launcher) -> Launcher:
    """The launcher a shallownet sweep uses: Hydra's submitit launchers get batches of
    compatible jobs (:class:`SubmititBatches`); any other launcher is used as it is."""
    if type(launcher).__module__.startswith("hydra_plugins.hydra_submitit_launcher"):
        return SubmititBatches(launcher)
    return launcher
