"""Runs in the store: writing without losing data, searching, ending a run with its reason,
and the newest run of each configuration.

Every write goes through :func:`retry`, which waits out a database that is busy under
concurrent writers (SQLite's "database is locked", a PostgreSQL deadlock) and gives up
at once on anything else. Errors are told apart by their type and the database's error
code, found along the exception's chain (MLflow wraps SQLAlchemy, which wraps the
driver), never by their text.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import requests
from mlflow.entities import Run, RunTag
from mlflow.tracking import MlflowClient

from ..errors import causes
from ..vocabulary import CONFIG_HASH_TAG, MAX_RESULTS, REASON_TAG

T = TypeVar("T")

# SQLite's result codes for a database another connection holds (sqlite3.h)
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
# PostgreSQL's SQLSTATEs worth a retry: serialization failure, deadlock, lock not available
POSTGRES_RETRY = {"40001", "40P01", "55P03"}
# MySQL's error numbers worth a retry: lock wait timeout, deadlock
MYSQL_RETRY = {1205, 1213}


def _busy(error: BaseException) -> bool:
    """Whether one exception (not its chain) says the database was busy."""
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
        # Python 3.10 gives no code: an OperationalError of SQLite is then taken as busy
        return code is None or code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    if getattr(error, "pgcode", None) in POSTGRES_RETRY:  # psycopg2 and psycopg 3
        return True
    module = type(error).__module__
    return module.startswith(("pymysql", "MySQLdb")) and bool(
        error.args and error.args[0] in MYSQL_RETRY
    )


def is_transient(exc: BaseException) -> bool:
    """The store was busy: the same write may succeed a moment later."""
    return any(_busy(error) for error in causes(exc))


def is_unreachable(exc: BaseException) -> bool:
    """The tracking server did not answer (refused, gone, timed out)."""
    return any(isinstance(error, requests.ConnectionError) for error in causes(exc))


class StoreUnreachable(RuntimeError):
    """The tracking server stopped answering earlier in this process: writes fail at once."""


# Set once a write found the server gone (after MLflow's own HTTP retries): every later
# write in this process fails at once instead of waiting out the retries again.
_unreachable: str | None = None


def note_unreachable(exc: BaseException) -> None:
    """Take it from ``exc`` (a job's error, from a worker process) that the server stopped
    answering, so that this process's writes fail at once too instead of waiting again."""
    global _unreachable
    for error in causes(exc):
        if isinstance(error, StoreUnreachable) or is_unreachable(error):
            _unreachable = _unreachable or str(error).strip().splitlines()[0][:300]
            return


def server_answers() -> None:
    """The server answered again (the check before a command, or a notebook's next
    sweep): writes go to it again."""
    global _unreachable
    _unreachable = None


def retry(fn: Callable[..., T], *args: object, attempts: int = 8, **kwargs: object) -> T:
    """Call an MLflow write, retrying with jittered exponential backoff while the store
    is busy."""
    global _unreachable
    if _unreachable is not None:
        raise StoreUnreachable(_unreachable)
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_unreachable(exc):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                _unreachable = f"the tracking server stopped answering ({first[:200]})"
                raise
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    msg = "retry() needs attempts >= 1"
    raise ValueError(msg)


def search(
    client: MlflowClient, experiment_id: str, where: str, newest_first: bool = False
) -> list[Run]:
    """The experiment's runs that match a filter (every one, up to MLflow's limit)."""
    order = ["attributes.start_time DESC"] if newest_first else None
    return list(
        retry(
            client.search_runs,
            [experiment_id],
            filter_string=where,
            order_by=order,
            max_results=MAX_RESULTS,
        )
    )


def end_run(client: MlflowClient, run_id: str, status: str, reason: str | None) -> None:
    """End a run with its final status, and the reason (tag ``failure_reason``) if any."""
    if reason is not None:
        retry(client.log_batch, run_id, tags=[RunTag(REASON_TAG, reason[:5000])])
    retry(client.set_terminated, run_id, status)


def config_of(run: Run) -> str:
    """The configuration a run trained (its config hash; its own id if it has none)."""
    return str(run.data.tags.get(CONFIG_HASH_TAG, run.info.run_id))


def newest_per_config(runs: Iterable[Run], prefer_finished: bool = False) -> dict[str, Run]:
    """The newest run of each configuration, from runs listed newest first; with
    ``prefer_finished``, the newest FINISHED one where there is one."""
    chosen: dict[str, Run] = {}
    for run in runs:
        kept = chosen.get(config_of(run))
        if kept is None or (
            prefer_finished and kept.info.status != "FINISHED" and run.info.status == "FINISHED"
        ):
            chosen[config_of(run)] = run
    return chosen


def newest_finished(client: MlflowClient, experiment_id: str, config_hash: str) -> Run | None:
    """The newest FINISHED run of this configuration in the experiment, if any."""
    runs = retry(
        client.search_runs,
        [experiment_id],
        filter_string=(
            f"tags.`{CONFIG_HASH_TAG}` = '{config_hash}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None
