"""Every use shallownet makes of MLflow beyond its public client API, in one place.

These are what an MLflow upgrade can break, so each has a test
(``tests/test_mlflow_internals.py``) that runs against the installed MLflow, and
:data:`VERIFIED` names the versions the whole suite (the browser test included)
passed on. A newer MLflow is allowed, with a warning once per process.

- the store's schema revisions (MLflow's Alembic scripts), to refuse a store of
  another schema in one line instead of in a migration traceback;
- an empty store built by MLflow's own SQL store, and the engine MLflow caches
  per database URI (forgotten for a temporary file; not shared across a fork);
- the bulk read of metric histories the SQL store does for its UI's charts, and a
  bulk write of a run's metrics into the SQL store's own tables;
- whether the installed UI reads saved views (its JavaScript bundle names the tag).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..vocabulary import SHARE_TAG_PREFIX

log = logging.getLogger("shallownet")

# The oldest and newest MLflow the suite passed on (pyproject.toml requires the first).
VERIFIED = ("3.7.0", "3.18.0")


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@functools.cache
def check_version() -> str:
    """The installed MLflow's version; a warning (once) if it is newer than verified."""
    installed = version("mlflow")
    if _release(installed) > _release(VERIFIED[-1]):
        log.warning(
            "shallownet: MLflow %s is newer than the newest version shallownet was verified "
            "with (%s); if the sweep's saved view or the store misbehaves, install "
            "'mlflow==%s'",
            installed,
            VERIFIED[-1],
            VERIFIED[-1],
        )
    return installed


@functools.cache
def schema_revisions() -> tuple[str, frozenset[str]]:
    """MLflow's store schema: the newest revision, and every revision it can upgrade from."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(db_url=""))  # type: ignore[no-untyped-call]
    heads = script.get_heads()
    known = frozenset(rev.revision for rev in script.walk_revisions())
    return heads[0], known


def store_builder() -> str:
    """What builds an empty store: MLflow's and SQLAlchemy's versions."""
    return f"mlflow-{version('mlflow')}-sqlalchemy-{version('sqlalchemy')}"


def build_empty_store(db: Path) -> None:
    """An empty MLflow store of the current schema in the SQLite file ``db``, built by
    MLflow's own SQL store; the engine MLflow keeps for it is closed and forgotten."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{db}"
    store = SqlAlchemyStore(uri, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)  # type: ignore[no-untyped-call]
    store.engine.dispose()
    # MLflow (since 3.8 or so) caches an engine per URI: forget the file's
    _engine_map().pop(uri, None)


def _engine_map() -> dict[str, Any]:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engines: dict[str, Any] = getattr(SqlAlchemyStore, "_engine_map", {})
    return engines


# The pools a forked child inherited, kept until it exits: never used, never closed
_inherited: list[Any] = []


def forget_inherited_connections() -> None:
    """In a forked child: the database connections MLflow's cached engines hold belong
    to the parent; give each engine a fresh pool without closing them (SQLAlchemy's
    recipe for ``fork``: ``engine.dispose(close=False)``). The old pools are kept, not
    collected: collecting one closes its SQLite connections in the child, and a close
    that finds no other process's lock on the file checkpoints and deletes the WAL
    the parent is writing ("do not carry an open SQLite connection across fork()").
    Workers end with ``os._exit``, which closes nothing."""
    for engine in list(_engine_map().values()):
        _inherited.append(engine.pool)
        engine.dispose(close=False)


def metric_history_bulk(
    client: Any, run_ids: list[str], metric: str, chunk: int
) -> list[tuple[str, int, float]] | None:
    """A metric's history of many runs in a few queries where the store is a database
    (MLflow's SQL store reads them so for its UI's charts; its client has no such call,
    and one call per run costs about 10 ms); None for other stores."""
    store = _sql_store(client)
    if store is None:
        return None
    rows = []
    for start in range(0, len(run_ids), chunk):
        some = run_ids[start : start + chunk]
        found = store.get_metric_history_bulk(some, metric, max_results=2**62)
        rows += [(m.run_id, m.step, m.value) for m in found]
    return rows


def _sql_store(client: Any) -> Any:
    """The client's store where it is MLflow's SQL store (SQLite, PostgreSQL, ...), else None."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return store if isinstance(store, SqlAlchemyStore) else None


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["step"], row["timestamp"], row["value"])


def _takes(function: Any, parameter: str) -> bool:
    import inspect

    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def insert_metrics(client: Any, run_id: str, metrics: Sequence[Any]) -> bool:
    """A run's metric points (finite, each key and step once), in one transaction of
    MLflow's SQL store: one bulk INSERT into its ``metrics`` table (its ORM's own table
    definition) and its update of ``latest_metrics``. ``log_batch`` builds an ORM object
    per point, about six times slower (1,000 points: 160 ms against 26 ms). False, and
    nothing written, where the store is not an SQL store or a value is not finite (then
    ``log_batch`` is the way)."""
    import math

    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    store = _sql_store(client)
    if store is None or not all(math.isfinite(m.value) for m in metrics):
        return False
    rows = [
        {"run_uuid": run_id, "key": m.key, "value": float(m.value), "timestamp": m.timestamp,
         "step": m.step, "is_nan": False}
        for m in metrics
    ]  # fmt: skip
    writing = {"read_only": False} if _takes(store.ManagedSessionMaker, "read_only") else {}
    with store.ManagedSessionMaker(**writing) as session:  # read-only by default in 3.17
        session.execute(sqlalchemy.insert(SqlMetric), rows)
        # each key's newest point (MLflow keeps the greatest step, timestamp, value)
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            kept = newest.get(row["key"])
            if kept is None or _order(row) > _order(kept):
                newest[row["key"]] = row
        latest = [SimpleNamespace(**row) for row in newest.values()]
        store._update_latest_metrics_if_necessary(latest, session)
    return True


NAMED_VIEWS_SINCE = "3.15.0"  # MLflow's "Views" menu lists saved views by name (PR 24359)


def lists_named_views(version: str) -> bool:
    """Whether the UI of this MLflow version lists saved views by name in its Views menu
    (and opens a view saved in that envelope from a shared-view URL)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) >= Version(NAMED_VIEWS_SINCE)
    except InvalidVersion:
        return False


@functools.cache
def ui_reads_saved_views() -> bool:
    """Whether the installed MLflow's UI opens saved views (its bundle reads the tag)."""
    import mlflow

    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    needle = SHARE_TAG_PREFIX.encode()
    return any(needle in path.read_bytes() for path in bundle.glob("main.*.js"))
