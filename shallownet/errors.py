"""User errors, reported in one line: the field, the bad value, what is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import (
    CompactHydraException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from .plugin_modules import ENV_VAR, PluginModuleError
from .registry import PluginError


class ConfigError(CompactHydraException):
    """A user error in the configuration."""


class RunFailed(CompactHydraException):
    """A single run failed after it started (its MLflow run is marked FAILED)."""


class StoreFailed(CompactHydraException):
    """The tracking store stopped taking writes during a command (full disk, server gone)."""


class Abort(BaseException):
    """Carries a user error out of a Hydra callback.

    Hydra turns an ``Exception`` raised in a callback into a warning and goes
    on; validation that must stop the command raises this instead.
    """


USER_ERRORS = (CompactHydraException, PluginError, PluginModuleError)


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
        options = ", ".join(sorted(exc.options))
        return f"{group}={value!r} is invalid: unknown option; choose from {options}{hint}"
    cause = exc.__cause__
    if isinstance(exc, InstantiationException) and isinstance(cause, USER_ERRORS):
        return one_line(cause)  # a plugin (the launcher, say) refused its parameters
    full_key = getattr(cause, "full_key", None)
    if isinstance(cause, OmegaConfBaseException) and full_key:
        reason = str(getattr(cause, "msg", cause)).splitlines()[0]
        if isinstance(cause, ConfigKeyError | ConfigAttributeError):
            reason += "; see shallownet --help for the keys you can set"
        return f"{full_key}: {reason}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if isinstance(exc, OverrideParseException):
        return f"malformed override {exc.override!r}: {first}; see shallownet --help"
    return first


@contextmanager
def abort_on_user_error() -> Iterator[None]:
    """In a Hydra callback: turn a user error into :class:`Abort` so the command stops."""
    try:
        yield
    except USER_ERRORS as exc:
        raise Abort(one_line(exc)) from exc
