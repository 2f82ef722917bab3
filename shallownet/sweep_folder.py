"""A sweep's folder is its own while it runs.

Hydra names a sweep's folder after the second it started
(``multirun/2026-12-02/06-13-00``), so two sweeps started in the same second (or two
given the same ``hydra.sweep.dir``) would write into one folder: one's
``multirun.yaml`` and batches over the other's. A sweep holds a lock on a file in
its folder while it runs (``flock``: released by the system when the process ends,
even by ``kill -9``); a second sweep finds it held and is refused in one line before
it writes anything. A folder whose sweep has ended is used again, as Hydra does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

LOCK_FILE = ".shallownet-sweep.lock"


@contextlib.contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """Hold ``folder`` (created if need be) for this sweep; ConfigError where another
    sweep that is still running holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            msg = (
                f"hydra.sweep.dir={str(folder)!r} is invalid: another sweep (pid {owner}) is "
                "writing to it now, as sweeps started in the same second do; set "
                "hydra.sweep.dir to another folder, or start again in a second"
            )
            raise ConfigError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
