"""A sweep from Python: what ``shallownet -m`` runs, called from a script or a notebook.

    import shallownet as sn

    @sn.initializers.register("orthogonal")         # in a notebook cell, say
    def orthogonal(shape, rng, gain=1.0):
        q, r = np.linalg.qr(rng.standard_normal((max(shape), min(shape))))
        q = q * np.sign(np.diag(r))
        return gain * (q if shape[0] >= shape[1] else q.T)

    study = sn.sweep(["init=zeros,small,orthogonal", "activation=tanh", "seed=0,1,2"])
    study.table()            # one row per configuration: median, min and max over seeds
    study.cost_figure()      # the cost curves, drawn inline in a notebook
    study.open               # the URL of the sweep's view in the MLflow UI

:func:`sweep` takes the command line's path, all of it: Hydra composes ``conf/`` with the
overrides, the shallownet sweeper validates every job (a bad value raises
:class:`~shallownet.errors.ConfigError` carrying the one line the command prints, before
anything is written), the batched launcher trains the jobs (here or in worker processes,
which get the plugins registered in this process: :mod:`shallownet.carried_plugins`),
each run ends FINISHED or FAILED, and the parent run ends with its report. The
:class:`Study` it returns is the sweep read back (:class:`shallownet.report.Sweep`: its
frames, tables and figures) with what the command prints at its end.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from hydra.core.global_hydra import GlobalHydra
from hydra.initialize import get_gh_backup, initialize_config_module, restore_gh_from_backup

from hydra_plugins.shallownet_hydra.sweeper import register_hydra_plugins

from . import interrupts
from .config import CONFIG_PACKAGE, store_configs
from .errors import Abort, ConfigError, JobsFailed, RunFailed, StoreFailed
from .lifecycle import task
from .messages import USER_ERRORS, one_line, quiet_libraries
from .plan import NEEDS_TRACKING, Swept, quoted
from .plugin_modules import import_plugin_modules
from .report.frames import Sweep, load_sweep

log = logging.getLogger("shallownet")

JOB_NAME = "cli"  # Hydra's job name under the command line (its module's name)


@dataclass
class Study(Sweep):
    """A sweep run from Python and read back: the report's frames, tables and figures
    (:class:`~shallownet.report.Sweep`), and what the command prints at its end."""

    tracking_uri: str = ""
    experiment: str = ""
    status: str = ""  # the parent run's: FINISHED, FAILED or KILLED
    lines: list[str] = field(default_factory=list)  # the end-of-sweep lines, as printed

    @property
    def open(self) -> str:
        """The URL that opens the sweep's view in the MLflow UI (its first view, where a
        sweep whose group names would be cut has one per value of a key: see ``views``)."""
        return _line(self.lines, "open:")

    @property
    def views(self) -> list[str]:
        """The URLs of each of the sweep's views, in the order printed."""
        return _lines(self.lines, "open:")

    @property
    def serve(self) -> str:
        """The command that serves the store's MLflow UI ('' for a server's URI)."""
        return _line(self.lines, "serve:")

    def __repr__(self) -> str:
        return "\n".join(self.lines) or f"Study({self.parent_name!r})"


def _lines(lines: Sequence[str], label: str) -> list[str]:
    found = [line.strip() for line in lines if line.strip().startswith(label)]
    return [line[len(label) :].strip() for line in found]


def _line(lines: Sequence[str], label: str) -> str:
    return next(iter(_lines(lines, label)), "")


def sweep(
    overrides: Sequence[str] = (),
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> Study:
    """Run a sweep as ``shallownet -m <overrides>`` does and read it back.

    ``overrides`` are the command line's (``["init=zeros,small", "seed=range(3)"]``);
    ``tracking_uri`` and ``experiment`` set ``tracking.uri`` and ``tracking.experiment``.
    A bad value raises :class:`~shallownet.errors.ConfigError` with the command's one-line
    message, before anything is written; a sweep that stopped (a store that broke, an
    interrupt) raises as the command stops.
    """
    typed = _arguments(overrides, tracking_uri, experiment)
    token = NEEDS_TRACKING.set(READS_BACK)
    try:
        swept = _multirun(typed)
    finally:
        NEEDS_TRACKING.reset(token)
    if swept.tracking is None or swept.parent is None:
        raise ConfigError(READS_BACK)
    read = load_sweep(swept.tracking.uri, swept.tracking.experiment, swept.parent.run_id)
    return Study(
        **vars(read),
        tracking_uri=swept.tracking.uri,
        experiment=swept.tracking.experiment,
        status=swept.parent.status,
        lines=swept.parent.summary,
    )


READS_BACK = "sn.sweep reads its runs back from the store: leave tracking on (not tracking=none)"


def _arguments(
    overrides: Sequence[str], tracking_uri: str | None, experiment: str | None
) -> list[str]:
    """The overrides ``sweep`` runs, its arguments checked (TypeError in one line)."""
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        msg = (
            f"sn.sweep's overrides={overrides!r} is invalid: must be a list of strings, as "
            "typed on the command line (['init=zeros,small', 'seed=range(3)'])"
        )
        raise TypeError(msg)
    typed = list(overrides)
    named: tuple[tuple[str, str, object], ...] = (  # what a caller may pass, unchecked
        ("tracking_uri", "tracking.uri", tracking_uri),
        ("experiment", "tracking.experiment", experiment),
    )
    for name, key, value in named:
        if value is None:
            continue
        if not isinstance(value, str):
            msg = (
                f"sn.sweep's {name}={value!r} is invalid: must be a string, or None for "
                f"{key} as configured"
            )
            raise TypeError(msg)
        typed.append(f"{key}={quoted(value)}")
    return typed


def _multirun(overrides: list[str]) -> Swept:
    """Hydra's multirun over shallownet's config tree, as the command line runs it; user
    errors as ConfigError (one line)."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "hydra/sweeper" and value != "shallownet":
            msg = f"{override} is invalid: sn.sweep runs the shallownet sweeper; run other "
            msg += "Hydra sweepers from the command line (shallownet -m ...)"
            raise ConfigError(msg)
    backup = get_gh_backup()  # a Hydra the caller initialized is put back afterwards
    GlobalHydra.instance().clear()
    try:
        with interrupts.installed():
            quiet_libraries()  # (other sweepers, Optuna's among them, are refused above)
            import_plugin_modules()
            store_configs()
            register_hydra_plugins()
            with initialize_config_module(CONFIG_PACKAGE, JOB_NAME, version_base="1.3"):
                hydra = GlobalHydra.instance().hydra
                assert hydra is not None
                swept = hydra.multirun("config", task_function=task, overrides=overrides)
    except JobsFailed as exc:  # the sweep ran to its end: its Study says which jobs failed
        log.warning("shallownet: %s", exc)
        swept = exc.swept
    except Abort as exc:
        raise ConfigError(str(exc)) from None
    except USER_ERRORS as exc:
        if isinstance(exc, RunFailed | StoreFailed):
            raise
        raise ConfigError(one_line(exc)) from None
    finally:
        restore_gh_from_backup(backup)
    assert isinstance(swept, Swept)
    return swept
