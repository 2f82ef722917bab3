"""The ``shallownet`` command: a Hydra app over ``conf/``.

    shallownet                      one run with the defaults (the course's network)
    shallownet -m experiment=main   the main study
    shallownet -m init=zeros,small  a sweep: exactly the grid typed
    shallownet --help               groups, their options (every registered plugin) and examples

How a job flows (docs/architecture.md): the shallownet sweeper
(hydra_plugins/shallownet_hydra/sweeper.py, work in shallownet/plan.py) composes
(shallownet/compose.py) and validates (shallownet/validate.py) every job into one
record (shallownet/job.py, shallownet/settings.py), opens the sweep's parent run
(shallownet/tracking/parent.py) and hands the jobs to a launcher; the launcher runs
shallownet.lifecycle.task, the one job lifecycle (open the run, train, record, end
FINISHED or FAILED). User errors end in one line on stderr and exit code 2; nothing
is written.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from importlib import resources
from typing import NoReturn

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from hydra_plugins.shallownet_hydra.sweeper import register_hydra_plugins

from . import interrupts
from .config import CONFIG_GROUPS, CONFIG_PACKAGE, store_configs
from .errors import Abort, CallbackError, RunFailed, StoreFailed, causes, working_folder
from .lifecycle import task
from .messages import USER_ERRORS, one_line, quiet_libraries
from .plugin_modules import ENV_VAR, absolutize, import_plugin_modules


@hydra.main(config_path="pkg://shallownet.conf", config_name="config", version_base="1.3")
def app(cfg: DictConfig) -> float | list[float]:
    """The Hydra task: one job, or a batch of jobs (see shallownet.lifecycle)."""
    return task(cfg)


def main() -> None:
    """Console entry point: set up plugins, run the Hydra app, report user errors briefly."""
    user_wants_traces = bool(os.environ.get("HYDRA_FULL_ERROR"))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us; we print them in one line
    interrupts.install()
    interrupts.quiet_when_stdout_closes()  # shallownet -m ... | head
    # a log line that cannot be written (its file on a full disk) is no traceback: the
    # command says in one line what failed (the logging module's advice for production)
    logging.raiseExceptions = False
    quiet_libraries(sys.argv[1:])
    try:
        here = working_folder()
        if os.environ.get(ENV_VAR):
            os.environ[ENV_VAR] = absolutize(os.environ[ENV_VAR], here)
        import_plugin_modules()
        store_configs()
        register_hydra_plugins()
        try:
            app()
        except CallbackError as exc:  # raised in a Hydra callback: as if raised here
            raise exc.error from None
    except KeyboardInterrupt as exc:
        print(f"\nshallownet: {interrupts.reason(exc)}", file=sys.stderr)
        sys.exit(interrupts.exiting(exc))
    except Abort as exc:
        print(f"shallownet: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except USER_ERRORS as exc:
        if user_wants_traces:
            raise
        print(f"shallownet: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1 if isinstance(exc, RunFailed | StoreFailed) else 2)
    except OSError as exc:  # the output folder or the store cannot be written
        if user_wants_traces:
            raise
        _cannot_write(exc)
    except Exception as exc:  # a job or the store broke mid-sweep: its runs say which
        if user_wants_traces:
            raise
        if isinstance(exc, ValueError) and (line := _misread(sys.argv[1:])):
            print(f"shallownet: error: {line}; see shallownet --help", file=sys.stderr)
            sys.exit(2)
        print(
            f"shallownet: error: the command stopped on {_root_cause(exc)}; the runs in "
            f"the store say which jobs ended how (HYDRA_FULL_ERROR=1 shows the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)


def _misread(arguments: list[str]) -> str | None:
    """What was wrong with the overrides when Hydra raises a ValueError that names no
    field: an integer of 5,000 digits (its parser reads it with int(), which Python
    refuses), or a config group set to null (its composition refuses it)."""
    if typed := _huge_integer(arguments):
        return f"{typed} is invalid: no setting takes an integer of that many digits"
    if typed := _group_set_to_null(arguments):
        return f"{typed} is invalid: a config group needs one of its options"
    return None


def _huge_integer(arguments: list[str]) -> str | None:
    """The first override whose value is an integer too long for Python to read (more
    than 4,300 digits), shown by its key and length."""
    for argument in arguments:
        key, _, value = argument.partition("=")
        digits = value.lstrip("+-")
        if len(digits) > sys.get_int_max_str_digits() and digits.isdigit():
            return f"{key}=<an integer of {len(digits)} digits>"
    return None


def _group_set_to_null(arguments: list[str]) -> str | None:
    """The first override that sets a config group of its own to null (``activation=null``)."""
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key.lstrip("+~") in CONFIG_GROUPS and value in ("null", "~"):
            return argument
    return None


def _cannot_write(exc: OSError) -> NoReturn:
    """The line for an OSError out of the app, and its exit code: an option too long to
    be a file's name is bad input (2); else a folder or the store cannot be written (1)."""
    if (line := _too_long_option(exc, sys.argv[1:])) is not None:
        print(f"shallownet: error: {line}", file=sys.stderr)
        sys.exit(2)
    where = f" {exc.filename!r}" if exc.filename else ""
    print(
        f"shallownet: error: cannot write{where}: {exc.strerror or exc}; run from a "
        f"writable directory or set hydra.run.dir / hydra.sweep.dir and tracking.uri",
        file=sys.stderr,
    )
    sys.exit(1)


def _too_long_option(exc: OSError, arguments: list[str]) -> str | None:
    """The line for an option of a config group too long to be a file's name (Hydra looks
    for ``conf/init/<option>.yaml`` and the system refuses the name), as for any unknown
    option; None for another error."""
    if exc.errno != errno.ENAMETOOLONG:
        return None
    for argument in arguments:
        key, _, value = argument.partition("=")
        group = key.lstrip("+~")
        if group in CONFIG_GROUPS and len(os.fsencode(f"{value}.yaml")) > 255:
            shipped = (resources.files(CONFIG_PACKAGE) / group).iterdir()
            stored = ConfigStore.instance().list(group)
            names = {p.name for p in shipped} | set(stored)
            options = ", ".join(sorted(n.removesuffix(".yaml") for n in names))
            return f"{group}={value[:40]!r}... is invalid: unknown option; choose from {options}"
    return None


def _root_cause(exc: BaseException) -> str:
    """An unexpected exception in a line: the innermost cause says what happened
    (``OperationalError: database or disk is full`` under MLflow's and SQLAlchemy's)."""
    *_, root = causes(exc)
    text = f"{type(exc).__name__}: {one_line(exc)}"
    if root is not exc:
        text += f" (caused by {type(root).__name__}: {one_line(root)})"
    return text


if __name__ == "__main__":
    main()
