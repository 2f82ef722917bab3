"""User errors as the command line prints them: one line naming the field, the value and
what is allowed, for shallownet's errors and for Hydra's and OmegaConf's alike."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from hydra.errors import (
    CompactHydraException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from . import errors
from .errors import Abort, first_line
from .plugin_modules import ENV_VAR

# Hydra's launchers and sweepers that shallownet's extras install (pyproject.toml)
EXTRAS = {
    ("hydra/sweeper", "optuna"): "optuna",
    ("hydra/launcher", "joblib"): "parallel",
    ("hydra/launcher", "submitit_local"): "cluster",
    ("hydra/launcher", "submitit_slurm"): "cluster",
}

# Libraries that speak at INFO of their own setup (alembic's plugins, Optuna's study, as
# Hydra's Optuna sweeper loads them, and that sweeper's study and best value, which the
# search's last lines say): a command prints only shallownet's lines, Hydra's and the
# user's, and theirs when something is wrong
QUIET_LIBRARIES = ("alembic", "optuna", "hydra_plugins.hydra_optuna_sweeper")
MLFLOW_SQL_ERRORS = "mlflow.store.db.utils"  # logs what it raises, traceback and all


def quiet_libraries(arguments: Sequence[str] = ()) -> None:
    """Only warnings and errors from the libraries of QUIET_LIBRARIES (Optuna sets its own
    level as it is imported: for a search it is imported here first, then quietened)."""
    if "hydra/sweeper=optuna" in arguments and importlib.util.find_spec("optuna"):
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow's SQL store logs each database error with its traceback, then raises it: a
    # full disk printed 482 lines around the command's own one-line account of it
    logging.getLogger(MLFLOW_SQL_ERRORS).setLevel(logging.CRITICAL)
    # MLflow prints "View run ... at: <url>" as a run of an MLflow server ends: the sweep's
    # last lines say where to look (and its Slurm jobs, which inherit this, print nothing)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


# every error the command line reports in one line, without a traceback
USER_ERRORS: tuple[type[Exception], ...] = (CompactHydraException, *errors.USER_ERRORS)


def one_line(exc: BaseException) -> str:
    """A user error as one line naming the field, the value and what is allowed."""
    if (
        isinstance(exc, MissingConfigException)
        and exc.missing_cfg_file
        and exc.options is not None
    ):
        group, _, value = exc.missing_cfg_file.rpartition("/")
        hint = ""
        if group in ("init", "activation", "data"):
            hint = f"; a plugin of your own? name its module in {ENV_VAR}"
        elif (extra := EXTRAS.get((group, value))) is not None:
            hint = f"; it comes with an extra: pip install 'shallownet[{extra}]'"
        options = ", ".join(sorted(exc.options))
        return f"{group}={value!r} is invalid: unknown option; choose from {options}{hint}"
    cause = exc.__cause__
    if isinstance(exc, InstantiationException) and isinstance(cause, USER_ERRORS):
        assert cause is not None
        return one_line(cause)  # a plugin (the launcher, say) refused its parameters
    full_key = getattr(cause, "full_key", None)
    if isinstance(cause, OmegaConfBaseException) and full_key:
        reason = str(getattr(cause, "msg", cause)).splitlines()[0]
        if isinstance(cause, ConfigKeyError | ConfigAttributeError):
            reason += "; see shallownet --help for the keys you can set"
        return f"{full_key}: {reason}"
    if isinstance(exc, OverrideParseException):
        return f"malformed override {exc.override!r}: {first_line(exc)}; see shallownet --help"
    return first_line(exc)


@contextmanager
def abort_on_user_error() -> Iterator[None]:
    """In a Hydra callback: turn a user error into :class:`Abort` so the command stops."""
    try:
        yield
    except USER_ERRORS as exc:
        raise Abort(one_line(exc)) from exc
