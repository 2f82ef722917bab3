"""Run the real ``shallownet`` command in a subprocess, in a temp directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CUSTOM_PLUGINS = REPO / "experiments" / "custom_plugins" / "plugins.py"
BIN = Path(sys.executable).parent


def clean_env() -> dict[str, str]:
    """This environment without the SHALLOWNET_ and HYDRA_ settings of whoever runs the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SHALLOWNET_", "HYDRA_"))}


def run_cli(
    *args: str,
    cwd: Path,
    plugins: str | None = None,
    command: str = "shallownet",
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env["PYTHONPATH"] = str(REPO)  # for test-only Hydra callbacks (tests.record_returns)
    if plugins is not None:
        env["SHALLOWNET_PLUGINS"] = plugins
    return subprocess.run(
        [str(BIN / command), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(folder: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``shallownet ARGS`` in its own process group (so a test can signal all of it),
    with the signal dispositions of a terminal: a test runner started in the background
    ignores SIGINT, and a child would inherit that."""
    env = clean_env()
    return subprocess.Popen(
        [str(BIN / "shallownet"), *args],
        cwd=folder,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=terminal_signals,  # the test starts no threads meanwhile
    )


@contextlib.contextmanager
def started(folder: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``start_cli``, and whatever happens in the block, none of the command's processes
    outlives it: its whole group is killed (its workers too, orphans or not: they hold its
    pipes open), it is reaped and its pipes are closed."""
    proc = start_cli(folder, *args)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        wait_for(lambda: group_gone(proc.pid), 60, "the command's processes to end")


def run_together(
    folder: Path, *commands: tuple[str, ...], timeout: float = 600
) -> list[tuple[int, str]]:
    """Start ``shallownet`` with each of ``commands``' arguments at once; each one's exit
    code and standard error, in order."""
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(started(folder, *args)) for args in commands]
        outcomes = []
        for proc in procs:
            _, stderr = proc.communicate(timeout=timeout)
            outcomes.append((proc.returncode, stderr))
        return outcomes


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def terminal_signals() -> None:
    """A terminal's signal dispositions, in a child about to start (``preexec_fn``)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def written(folder: Path) -> list[str]:
    """Everything a command left in its working directory."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def python_run(
    code: str, preexec_fn: Callable[[], object] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh process (with ``check``, a failure fails the test),
    ``preexec_fn`` setting its signal dispositions, say."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
        preexec_fn=preexec_fn,
    )


def python_out(code: str, preexec_fn: Callable[[], object] | None = None) -> str:
    """What ``python -c code`` prints in a fresh process (a failure fails the test)."""
    return python_run(code, preexec_fn).stdout
