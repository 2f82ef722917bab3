"""Which process owns a run, and ending runs whose process is gone.

Every run shallownet opens carries ``shallownet.host`` and
``shallownet.process`` (pid and start time). A process killed with ``kill -9``
(or by the kernel) cannot end its runs; the next command on the same store
(a sweep, a resume, a report) finds them RUNNING, sees that their process no
longer exists on this host, and ends them KILLED with the reason
``process vanished``. Runs owned by processes on other hosts are left alone.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from mlflow.tracking import MlflowClient

from ..vocabulary import HOST_TAG, PROCESS_TAG
from .runs import end_run, search


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name ([] where unreadable)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def _start_time(pid: int) -> str:
    """When the process started (clock ticks since boot, from /proc), or '' if unknown:
    a pid reused by a new process does not pass for the old one."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


@functools.cache
def host() -> str:
    return socket.gethostname()


def owner_tags() -> dict[str, str]:
    """The tags that name this process as a run's owner."""
    pid = os.getpid()
    return {HOST_TAG: host(), PROCESS_TAG: f"{pid}:{_start_time(pid)}"}


def alive(process: str) -> bool:
    """Whether the process a ``shallownet.process`` tag names (on this host) still runs."""
    pid_text, _, started = process.partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True  # unreadable tag, or someone else's process: assume alive
    fields = _stat(pid)
    if fields and fields[0] == "Z":
        return False  # a zombie: it ended; its parent has not collected it yet
    return not started or _start_time(pid) in ("", started)


def end_vanished(client: MlflowClient, experiment_id: str) -> int:
    """End KILLED the RUNNING runs of this host whose process is gone; return how many."""
    runs = search(
        client, experiment_id, f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host()}'"
    )
    ended = 0
    for run in runs:
        process = run.data.tags.get(PROCESS_TAG, "")
        if alive(process):
            continue
        pid = process.partition(":")[0]
        reason = (
            f"process vanished: {host()} pid {pid} ended without ending its run "
            f"(it was killed, or could not write to the store)"
        )
        end_run(client, run.info.run_id, "KILLED", reason)
        ended += 1
    return ended
