"""Processes of this host named so that a reused pid does not pass for the one it
named: ``"<pid>:<start time>"`` (the start time in clock ticks since boot, from /proc).

A run's owner is recorded so (:mod:`shallownet.tracking.owner`), and a worker watches
the process that launched its sweep so (:func:`shallownet.interrupts.die_with_parent`).
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name ([] where unreadable)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def start_time(pid: int) -> str:
    """When the process started (clock ticks since boot, from /proc), or '' if unknown."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def this_process() -> str:
    """This process, named as :func:`alive` reads it."""
    pid = os.getpid()
    return f"{pid}:{start_time(pid)}"


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` is ``ancestor`` or was started by it (through any number
    of processes between them: submitit's runner stands between a sweep and its jobs)."""
    for _ in range(64):  # far deeper than any sweep's tree
        if pid == ancestor:
            return True
        fields = _stat(pid)
        if len(fields) < 2 or int(fields[1]) <= 1:
            return False
        pid = int(fields[1])
    return False


def alive(process: str) -> bool:
    """Whether the process named ``"<pid>:<start time>"`` (on this host) still runs."""
    pid_text, _, started = process.partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True  # unreadable name, or someone else's process: assume alive
    fields = _stat(pid)
    if fields and fields[0] == "Z":
        return False  # a zombie: it ended; its parent has not collected it yet
    return not started or start_time(pid) in ("", started)
