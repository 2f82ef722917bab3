"""Hydra's side of the configuration: the schema and every plugin in its ConfigStore.

The schema (:mod:`shallownet.schema`) and the settings record
(:mod:`shallownet.settings`) are plain Python; this module gives them to Hydra.
Plugin groups (``data``, ``init``, ``activation``) are a ``name`` (the registry
key) plus the plugin's own parameters, so ``init=he init.gain=2`` reads as it
should. Every registered plugin is stored as an option of its group, so anything
registered, built in, from an entry point or from a module named in
``SHALLOWNET_PLUGINS``, is selectable and sweepable (``'init=glob(*)'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from .commands import executable
from .errors import ConfigError
from .schema import TRACKING_KEYS, Config
from .settings import PLUGIN_GROUPS, Settings, plugin_parameters, settings_from

CONFIG_PACKAGE = "shallownet.conf"
# the config groups a job needs one option of (``experiment`` may be null)
CONFIG_GROUPS = (*PLUGIN_GROUPS, "tracking")

# Keys left out of a job's folder name (``hydra.job.override_dirname``): where results
# go is not what the job is, and a data file's absolute path would make a long name.
NOT_IN_FOLDER_NAMES = ("tracking", *TRACKING_KEYS, "data.path")

# conf/config.yaml reads the list above (``${shallownet.not_in_folder_names:}``).
OmegaConf.register_new_resolver(
    "shallownet.not_in_folder_names", lambda: list(NOT_IN_FOLDER_NAMES), replace=True
)
# ``shallownet --help`` names the commands by their absolute paths (conf/hydra/help/):
# ``${shallownet.executable:mlflow,mlflow}``
OmegaConf.register_new_resolver("shallownet.executable", executable, replace=True)


def _yaml_options(group: str) -> set[str]:
    folder = resources.files(CONFIG_PACKAGE).joinpath(group)
    if not folder.is_dir():  # every option of the group is generated (activation)
        return set()
    return {p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")}


def store_configs() -> None:
    """Put the schema and every registered plugin into Hydra's ConfigStore.

    Plugins that have a YAML file in ``conf/<group>/`` are described there;
    every other registered plugin gets a node ``{name: <key>, <param>: <default>}``.
    Call again after registering or unregistering plugins: the options follow.
    """
    cs = ConfigStore.instance()
    cs.store(name="schema", node=Config)
    for group, registry in PLUGIN_GROUPS.items():
        yaml = _yaml_options(group)
        names = set(registry.names())
        stored = cs.repo.get(group, {})
        for file, node in list(stored.items()):
            if node.provider == "shallownet" and file.removesuffix(".yaml") not in names:
                del stored[file]  # unregistered since
        for name in sorted(names - yaml):
            node = {"name": name, **plugin_parameters(group, name)}
            cs.store(group=group, name=name, node=node, provider="shallownet")


def unresolvable(exc: InterpolationResolutionError) -> ConfigError:
    """An interpolation that cannot be resolved (``seed=${oc.env:MISSING}``), in one line
    naming the field."""
    reason = str(getattr(exc, "msg", exc)).strip().splitlines()[0]
    return ConfigError(f"{exc.full_key}: cannot resolve its value ({reason}); give a value")


def settings(
    cfg: DictConfig, launch_dir: Path, choices: Mapping[str, Any] | None = None
) -> Settings:
    """A composed config as validated :class:`Settings`, or ConfigError in one line.

    Checks every field against the schema's rules; the plugins' own checks
    (which call them on small inputs) are :func:`shallownet.settings.check_plugins`.
    ``choices`` are the group options chosen (``init: small``), by default read from
    the config's ``hydra.runtime.choices``.
    """
    masked = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    try:
        raw = OmegaConf.to_container(masked, resolve=True)
    except InterpolationResolutionError as exc:  # ${oc.env:MISSING}, ${nope}
        raise unresolvable(exc) from None
    assert isinstance(raw, dict)
    if choices is None:
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    return settings_from({str(k): v for k, v in raw.items()}, launch_dir, choices)
