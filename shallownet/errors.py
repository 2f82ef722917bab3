"""The errors shallownet raises for what a user asked: one line naming the field, the bad
value and what is allowed. Plain Python (no Hydra): the command line formats Hydra's own
errors beside these (:mod:`shallownet.messages`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from .plugin_modules import PluginModuleError
from .registry import PluginError


class UserError(Exception):
    """A mistake in what the user asked for, reported in one line."""


class ConfigError(UserError):
    """A user error in the configuration."""


class RunFailed(UserError):
    """A single run failed after it started (its MLflow run is marked FAILED)."""


class JobsFailed(RunFailed):
    """Jobs of a sweep failed on an error, not in training (plugin code that raised, a
    worker that died): the sweep ran to its end and its runs say why. ``swept`` is what
    the sweep returns (:class:`shallownet.plan.Swept`)."""

    def __init__(self, message: str, swept: object) -> None:
        super().__init__(message)
        self.swept = swept


class StoreFailed(UserError):
    """The tracking store stopped taking writes during a command (full disk, server gone)."""


RUN_THE_REST = (
    "run the sweep again with tracking.skip_finished=true to run the jobs that did not finish"
)


def jobs_failed_line(lost: Sequence[str], jobs: int, again: str = RUN_THE_REST) -> str:
    """What the command says last when jobs failed on an error (its exit code is 1), and
    what to do ``again`` once it is fixed."""
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    return (
        f"{len(lost)} of {jobs} jobs failed on an error, not in training: "
        f"{lost[0].strip().splitlines()[0]}{more}; once it is fixed, {again}"
    )


class CallbackError(BaseException):
    """Carries an error out of a Hydra callback (which makes an ``Exception`` a warning):
    the command handles ``error`` as if it had been raised where the callback was called."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Abort(BaseException):
    """Carries a user error out of a Hydra callback.

    Hydra turns an ``Exception`` raised in a callback into a warning and goes
    on; validation that must stop the command raises this instead.
    """


# shallownet's own user errors (Hydra's are added by the command line: shallownet.messages)
USER_ERRORS: tuple[type[Exception], ...] = (UserError, PluginError, PluginModuleError)


def working_folder() -> Path:
    """The folder the command runs in; a :class:`ConfigError` if it no longer exists."""
    try:
        return Path.cwd()
    except FileNotFoundError:
        msg = (
            "the current folder is invalid: it no longer exists (it was deleted while the "
            "shell was in it); cd to an existing folder and run the command there"
        )
        raise ConfigError(msg) from None


def first_line(exc: BaseException) -> str:
    """An error's first non-blank line (its type's name if it has no text)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it, explicitly or while handling it, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
