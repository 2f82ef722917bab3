"""The embedded store: an MLflow SQLite file, checked before use and created atomically.

Any number of commands may start at once on one fresh ``mlflow.db``, and any of
them may be killed at any moment. So the store is created under an exclusive
lock on its directory, into a temporary file that is renamed into place once
MLflow has built every table: ``mlflow.db`` is either absent or complete.
The store keeps its journal in SQLite's write-ahead log (WAL): a commit is one
append, readers (the MLflow UI, the report) do not block the jobs writing, and
parallel workers wait less for each other (``benchmarks/README.md``). WAL needs
every process on one machine, as an SQLite store does anyway.
Before that, :func:`check_file` refuses (in one line, within seconds, without
touching it) a file MLflow could not use: a folder, a file that is not SQLite,
an SQLite file that is not an MLflow store, or a store of another schema.

A store's file is opened only through SQLite, never with a plain ``open()``: closing
any descriptor of a file releases every POSIX lock the process holds on it, SQLite's
own included, and a process whose locks are gone lets another process that closes its
last connection checkpoint and delete the WAL under it (the runs written since are
lost, or the file is left "not a database"; SQLite's "How To Corrupt An SQLite Database
File", section 2.2). SQLite itself keeps a descriptor open while another connection of
the same process holds a lock on its file.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from .mlflow_internals import build_empty_store, schema_revisions, store_builder

SQLITE_HEADER = b"SQLite format 3\x00"  # how a cached store is told from junk


def _invalid(uri: str, why: str) -> ConfigError:
    return ConfigError(f"tracking.uri={uri!r} is invalid: {why}")


def _kind(db: Path) -> str | None:
    """What ``db`` is, through symbolic links: "file", "folder", another kind (a device,
    a FIFO, a socket), or None where nothing is there yet. Nothing is opened."""
    try:
        mode = db.stat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "FIFO or socket"


def check_file(uri: str, db: Path) -> None:
    """Raise ConfigError if ``db`` exists and MLflow could not use it as its store. Only a
    regular file (or nothing) is ever read, created or replaced as a store: a folder, a
    device, a FIFO or a socket is refused before anything is read from it. Safe to call
    while this process holds the store open (read through SQLite alone)."""
    if not _regular_file(uri, db):
        return  # nothing there, or an empty file: MLflow creates its tables in it
    tables, found = _tables_and_revision(uri, db)
    if not tables or (tables == {"alembic_version"} and not found):
        return  # empty: MLflow creates its tables in it
    if "experiments" not in tables or not found:
        raise _invalid(uri, f"{str(db)!r} is an SQLite database but not an MLflow store")
    head, known = schema_revisions()
    if found == head:
        return
    if found in known:
        raise _invalid(
            uri,
            f"the store has an older MLflow schema ({found}, this MLflow needs {head}); "
            f"back it up, then run: mlflow db upgrade {uri}",
        )
    raise _invalid(
        uri, f"the store was written by a newer MLflow (schema {found}); upgrade mlflow"
    )


def _regular_file(uri: str, db: Path) -> bool:
    """Whether ``db`` is a regular file with something in it (False: nothing there, or an
    empty file); ConfigError for anything else. Nothing is opened."""
    kind = _kind(db)
    if kind is None:
        return False
    if kind == "folder":
        raise _invalid(uri, f"{str(db)!r} is a folder, not an MLflow SQLite file")
    if kind != "file":
        raise _invalid(
            uri,
            f"{str(db)!r} is a {kind}, not a regular file; a store is kept only in a "
            f"regular file: choose another tracking.uri",
        )
    return db.stat().st_size > 0


SQLITE_NOTADB, SQLITE_CANTOPEN = 26, 14  # SQLite's result codes (sqlite3.h)


def _tables_and_revision(uri: str, db: Path) -> tuple[set[str], str | None]:
    """The tables of an SQLite file and its alembic revision (None if it has none), read
    through SQLite (see the module's docstring: never a plain ``open()``)."""
    try:
        # Read only, on a read-write connection: a read-only one leaves a WAL store's
        # -wal and -shm files behind; the last connection to close removes them.
        con = sqlite3.connect(db, timeout=5)
        try:
            tables = {row[0] for row in con.execute("select name from sqlite_master")}
            found = None
            if "alembic_version" in tables:
                row = con.execute("select version_num from alembic_version").fetchone()
                found = row and row[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        if code == SQLITE_NOTADB or str(exc) == "file is not a database":
            why = f"{str(db)!r} is not an SQLite file; move it away or choose another"
        elif code == SQLITE_CANTOPEN or str(exc) == "unable to open database file":
            why = f"cannot read {str(db)!r}: {exc}"
        else:
            why = f"{str(db)!r} is not a usable SQLite database ({exc})"
        raise _invalid(uri, why) from None
    return tables, found


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder, held by this process until the block ends (the
    kernel releases it if the process dies)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _temporary(db: Path) -> Path:
    return db.with_name(f".{db.name}.creating-{os.getpid()}")


def create(uri: str, db: Path) -> None:
    """Make ``db`` a complete MLflow store in WAL mode, if it is not one yet (safe under
    races and kills); switch an older store to WAL when no other process holds it."""
    if not (db.exists() and db.stat().st_size > 0):
        _create(db)
    _write_ahead_log(db)


def _write_ahead_log(db: Path) -> None:
    """Journal ``db`` in WAL mode. The switch needs the file to itself: while another
    process uses it, the store stays in its old mode (slower, as correct)."""
    try:
        con = sqlite3.connect(db, timeout=0.1)
        try:
            if con.execute("pragma journal_mode").fetchone()[0] != "wal":
                con.execute("pragma journal_mode=wal")
        finally:
            con.close()
    except sqlite3.OperationalError:
        pass  # locked by another process: try again next time


def _create(db: Path) -> None:
    with locked(db.parent):
        kind = _kind(db)
        if kind not in (None, "file"):  # never replace what is not a store's file
            uri = f"sqlite:///{db}"
            raise _invalid(uri, f"{str(db)!r} is a {kind}, not a regular file")
        if db.exists() and db.stat().st_size > 0:
            return  # another process created it while this one waited
        for stale in db.parent.glob(f".{db.name}.creating-*"):
            stale.unlink(missing_ok=True)  # left by a process killed while creating
        tmp = _temporary(db)
        try:
            if not _copy_cached(tmp):
                build_empty_store(tmp)
                _write_ahead_log(tmp)  # before the store is in place: no other process has it
                _cache(tmp)
            os.replace(tmp, db)
        finally:
            tmp.unlink(missing_ok=True)


# A new store is MLflow's migrations run from scratch (about a second: dozens of them);
# the empty store they build is the same for every store of one MLflow and SQLAlchemy,
# so the first one built is kept and later ones are copies of it.
CACHE_ENV = "SHALLOWNET_CACHE"  # where it is kept (default: $XDG_CACHE_HOME/shallownet)


def cache_folder() -> Path:
    """Where shallownet keeps what it can build again (the empty store)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "shallownet"


def cached_store() -> Path:
    """The cached empty store, named after the versions that built it: another MLflow
    or SQLAlchemy never sees it (and MLflow checks its schema when it opens a store)."""
    return cache_folder() / f"empty-store-{store_builder()}.db"


def _copy_cached(target: Path) -> bool:
    """Copy the cached empty store to ``target``; False if there is none usable."""
    source = cached_store()
    try:
        with source.open("rb") as f:
            data = f.read()
    except OSError:
        return False
    if not data.startswith(SQLITE_HEADER):
        return False  # not an SQLite file: build a new store instead
    target.write_bytes(data)
    try:
        check_file(f"sqlite:///{target}", target)  # an MLflow store of this MLflow's schema
    except ConfigError:
        target.unlink()
        return False
    return True


def _cache(built: Path) -> None:
    """Keep an empty store just built, atomically; a cache that cannot be written is
    no error (the next store is built again)."""
    target = cached_store()
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(built.read_bytes())
        os.replace(partial, target)
    except OSError:
        partial.unlink(missing_ok=True)
