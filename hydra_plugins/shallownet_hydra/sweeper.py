"""``hydra/sweeper=shallownet``: the grid typed, every job validated before anything is written.

It expands ``hydra.sweeper.params`` and the command line exactly as Hydra's
basic sweeper does (``a=x,y b=1,2`` is four jobs), but composes each distinct
set of config-group choices once and validates every job before the first
one starts; then it opens the sweep's MLflow parent run and hands the jobs to
the launcher (Hydra's submitit launchers get them in groups trained together:
``batched_launcher.SubmititBatches``). The work is in :mod:`shallownet.plan`.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this module
# in a way under which @dataclass cannot resolve postponed annotations.
from dataclasses import dataclass
from typing import Any, Dict, List, Optional  # noqa: UP035 (OmegaConf reads these)

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class ShallownetSweeperConf:
    _target_: str = "hydra_plugins.shallownet_hydra.sweeper.ShallownetSweeper"
    params: Optional[Dict[str, str]] = None  # noqa: UP006, UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="shallownet", node=ShallownetSweeperConf, provider="shallownet"
)


class ShallownetSweeper(Sweeper):
    def __init__(self, params: Optional[Dict[str, str]] = None) -> None:  # noqa: UP006, UP045
        self.params = dict(params or {})
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.launcher: Optional[Launcher] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        from .submitit_batches import batching

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = batching(
            Plugins.instance().instantiate_launcher(
                hydra_context=hydra_context, task_function=task_function, config=config
            )
        )

    def sweep(self, arguments: List[str]) -> Any:  # noqa: UP006
        from shallownet.plan import run_sweep

        assert self.config is not None
        assert self.hydra_context is not None
        assert self.launcher is not None
        return run_sweep(self.config, self.hydra_context, self.launcher, self.params, arguments)


def register_hydra_plugins() -> None:
    """Make ``hydra/sweeper=shallownet`` and ``hydra/launcher=batched`` known to Hydra.

    Hydra finds plugins by walking the ``hydra_plugins`` namespace package, which misses
    packages installed in editable mode (their path is a setuptools import hook that
    cannot be walked); registering by hand always works.
    """
    from hydra.core.plugins import Plugins

    from .batched_launcher import BatchedLauncher

    Plugins.instance().register(BatchedLauncher)
    Plugins.instance().register(ShallownetSweeper)
