"""A sweep's folder is its own while it runs.

Hydra names a sweep's folder after the second it started
(``multirun/2026-12-02/06-13-00``), so two sweeps started in the same second (or two
given the same ``hydra.sweep.dir``) would write into one folder: one's
``multirun.yaml`` and batches over the other's. A sweep holds a lock on a file in
its folder while it runs (``flock``: released by the system when the process ends,
even by ``kill -9``); a second sweep finds it held and is refused in one line before
it writes anything. A folder whose sweep has ended is used again, as Hydra does.

A folder named by the clock (Hydra's default, ``${now:...}``) that another sweep holds
was started in the same second: the sweep takes the next free folder instead
(``06-13-00_1``, ``06-13-00_2``, ...), as ``serve:`` takes the next free port. A folder the
user named (``hydra.sweep.dir=multirun/mine``) is refused while another sweep writes it:
two sweeps given one folder on purpose are a mistake to point out, not to work around.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

LOCK_FILE = ".shallownet-sweep.lock"


NEXT_FREE = 100  # folders tried after a clock-named one, at most


@contextlib.contextmanager
def claimed(folder: Path, next_free: bool = False) -> Iterator[Path]:
    """Hold ``folder`` (created if need be) for this sweep and yield it; ConfigError where
    another sweep that is still running holds it. With ``next_free`` (a folder named by
    the clock), the first of ``folder_1``, ``folder_2``, ... that no sweep holds instead."""
    tries = [folder] + [
        folder.with_name(f"{folder.name}_{n}") for n in range(1, NEXT_FREE + 1) if next_free
    ]
    for n, candidate in enumerate(tries):
        fd = _held(candidate, last=n == len(tries) - 1)
        if fd is None:
            continue
        try:
            yield candidate
        finally:
            os.close(fd)  # releases the lock
        return


def _held(folder: Path, last: bool) -> int | None:
    """A descriptor holding ``folder``'s lock; None if another sweep holds it (ConfigError
    if ``last``: no other folder is to be tried)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if not last:
            return None
        msg = (
            f"hydra.sweep.dir={str(folder)!r} is invalid: another sweep (pid {owner}) is "
            "writing to it now, as sweeps started in the same second do; set "
            "hydra.sweep.dir to another folder, or start again in a second"
        )
        raise ConfigError(msg) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def can_create_in(folder: Path) -> bool:
    """Whether a folder can be created in ``folder``, tried (an empty one made and removed
    at once): permissions do not say it where root may write anywhere but into /proc, an
    immutable folder or a read-only filesystem."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        probe = tempfile.mkdtemp(prefix=".shallownet-probe-", dir=folder)
    except OSError:
        return False
    os.rmdir(probe)
    return True
