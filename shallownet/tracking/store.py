"""The MLflow store: reaching it, and creating it (and the experiment) once.

A fresh SQLite store raced by parallel jobs fails, so the launching process
calls :func:`prepare` before any job starts. Writes go through
:func:`shallownet.tracking.runs.retry`.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..commands import executable, free_port
from ..errors import ConfigError
from ..settings import TrackingSettings
from ..sweep_folder import can_create_in
from ..vocabulary import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, NOTE_TAG
from . import HTTP_TIMEOUT
from .mlflow_internals import check_version
from .owner import end_vanished
from .runs import retry, server_answers

log = logging.getLogger("shallownet")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def file_identity(uri: str) -> tuple[int, int] | None:
    """Which file an SQLite store is (device, inode), None for another store or none:
    a store deleted or replaced while a sweep writes to it is told by it."""
    path = sqlite_path(uri)
    try:
        found = path.stat() if path is not None else None
    except OSError:
        return None
    return None if found is None else (found.st_dev, found.st_ino)


# Database URIs MLflow stores runs in through SQLAlchemy, which picks the driver
# (``postgresql://`` is psycopg 3 in SQLAlchemy 2.1, psycopg2 before; ``postgresql+psycopg2://``
# names one); the package that installs each driver's module, for the hint
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")  # as MLflow takes them (DATABASE_ENGINES)
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "mariadb": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}
SCHEMES = "sqlite:///ABSOLUTE/PATH/mlflow.db, http(s)://HOST:PORT, databricks, " + ", ".join(
    f"{s}://..." for s in DATABASE_SCHEMES
)


def check_reachable(uri: str, experiment: str | None = None) -> None:
    """Raise ConfigError (one line, with what to do) if the store cannot be used from here
    (for ``experiment``, where it matters).

    Answers within seconds and writes nothing.
    """
    scheme = uri.partition(":")[0].lower()
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite(uri, db)
    elif scheme in ("http", "https"):
        _check_server(uri)
    elif scheme.partition("+")[0] in DATABASE_SCHEMES:
        _check_database(uri, experiment)
    elif scheme == "databricks":
        _check_databricks(uri)
    else:
        msg = f"tracking.uri={uri!r} is invalid: MLflow cannot store runs there; use {SCHEMES}"
        raise ConfigError(msg)


def _check_sqlite(uri: str, db: Path) -> None:
    try:
        _check_sqlite_file(uri, db)
    except OSError as exc:  # a name the filesystem refuses (longer than 255 bytes), ...
        msg = f"tracking.uri={uri!r} is invalid: {exc.strerror or exc}; choose another path"
        raise ConfigError(msg) from None


def _check_sqlite_file(uri: str, db: Path) -> None:
    if not db.is_absolute():
        msg = f"tracking.uri={uri!r} is invalid: the path must be absolute (sqlite:////abs/path)"
        raise ConfigError(msg)
    if not db.parent.is_dir():
        msg = f"tracking.uri={uri!r} is invalid: directory {str(db.parent)!r} does not exist"
        raise ConfigError(msg)
    if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
        msg = (
            f"tracking.uri={uri!r} is invalid: {str(db)!r} is not writable; "
            f"run from a writable directory or set tracking.uri"
        )
        raise ConfigError(msg)
    from .sqlite import check_file

    check_file(uri, db)
    _check_artifacts(uri, db.parent / ARTIFACTS_FOLDER)


ARTIFACTS_FOLDER = "mlartifacts"  # beside an SQLite store: where its runs keep artifacts


def _check_artifacts(uri: str, folder: Path) -> None:
    """The folder an SQLite store's runs keep their artifacts in is one this process can
    write in, or is not there yet (its parent, the store's folder, was checked)."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_dir() and can_create_in(folder):
        return
    what = "a folder this process cannot write in" if folder.is_dir() else "not a folder"
    msg = (
        f"tracking.uri={uri!r} is invalid: {str(folder)!r}, where its runs keep their "
        f"artifacts, is {what}; move it away or set tracking.uri to a store in another folder"
    )
    raise ConfigError(msg)


def answer_seconds() -> float:
    """How long a request to a server is waited for: as long as MLflow's client waits for
    the runs' writes (``MLFLOW_HTTP_REQUEST_TIMEOUT``, set in this package), so a server
    slow but answering (2 s a request on a loaded machine) is not refused as unreachable."""
    return float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT))


def _check_server(uri: str) -> None:
    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=answer_seconds())
        response.raise_for_status()
        api = requests.get(uri.rstrip("/") + MLFLOW_API_PROBE, timeout=answer_seconds())
    except requests.RequestException as exc:
        reason = type(exc).__name__
        msg = (
            f"tracking.uri={uri!r} is unreachable ({reason}); start the server "
            f"(mlflow server --host 127.0.0.1 --port PORT) or use tracking=none"
        )
        raise ConfigError(msg) from None
    # an MLflow server answers its REST API in JSON (401/403: it wants credentials,
    # which MLflow's client takes from MLFLOW_TRACKING_TOKEN and the like)
    speaks_mlflow = api.status_code in (200, 401, 403) and "json" in api.headers.get(
        "content-type", ""
    )
    if not speaks_mlflow:
        msg = (
            f"tracking.uri={uri!r} is invalid: it answers /health but not MLflow's API "
            f"(GET {MLFLOW_API_PROBE}: HTTP {api.status_code}); give the address of an "
            f"mlflow server"
        )
        raise ConfigError(msg)
    server_answers()


MLFLOW_API_PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"


def _check_databricks(uri: str) -> None:
    """Databricks: credentials MLflow can read (a profile, or DATABRICKS_HOST and
    DATABRICKS_TOKEN)."""
    from mlflow.utils.databricks_utils import get_databricks_host_creds

    logging.getLogger("mlflow.utils.databricks_utils").setLevel(logging.ERROR)
    try:
        get_databricks_host_creds(uri)  # type: ignore[no-untyped-call]
    except Exception:
        msg = (
            f"tracking.uri={uri!r} is unreachable: no Databricks credentials found; set "
            f"DATABRICKS_HOST and DATABRICKS_TOKEN (pip install databricks-sdk) or use "
            f"another store"
        )
        raise ConfigError(msg) from None


def _check_database(uri: str, experiment: str | None) -> None:
    """A database server: its SQLAlchemy driver is installed, it answers, and the
    experiment's artifacts are not kept through an MLflow server (which only it reaches)."""
    import sqlalchemy

    timeout = {} if uri.startswith("mssql") else {"connect_args": {"connect_timeout": 5}}
    try:
        engine = sqlalchemy.create_engine(uri, **timeout)
    except ImportError as exc:
        raise ConfigError(_no_driver(uri, exc)) from None
    except Exception as exc:
        msg = f"tracking.uri={uri!r} is invalid: {type(exc).__name__}: {exc}"
        raise ConfigError(msg) from None
    try:
        with engine.connect() as connection:
            location = _artifact_location(connection, experiment) if experiment else None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"tracking.uri={uri!r} is unreachable: {reason}; start the database or fix the URI"
        raise ConfigError(msg) from None
    finally:
        engine.dispose()
    if location is not None and location.startswith("mlflow-artifacts:"):
        msg = (
            f"tracking.uri={uri!r} is invalid for tracking.experiment={experiment!r}: its "
            f"artifacts are kept through an MLflow server ({location}), which only that "
            "server can reach; set tracking.uri to the server's http:// address"
        )
        raise ConfigError(msg)


def _no_driver(uri: str, exc: ImportError) -> str:
    """The one line for a database URI whose driver module is missing: which driver
    SQLAlchemy reads the URI as, and the package that provides it."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    try:
        driver = url.get_dialect().driver
    except Exception:  # no such dialect: SQLAlchemy's own message says so
        driver = url.drivername.partition("+")[2] or "its default driver"
    module = exc.name or driver
    package = DRIVER_PACKAGES.get(module.partition(".")[0], module)
    backend = url.get_backend_name()
    return (
        f"tracking.uri={uri!r} is invalid: SQLAlchemy reads it as {backend}+{driver}://, "
        f"whose module {module} is not installed; install it (pip install '{package}') or "
        f"name an installed driver in the URI ({backend}+<driver>://)"
    )


def _artifact_location(connection: Any, experiment: str) -> str | None:
    """Where an experiment of an MLflow database keeps its artifacts (None: no such
    experiment, or not an MLflow database yet). Reads only."""
    import sqlalchemy

    if not sqlalchemy.inspect(connection).has_table("experiments"):
        return None
    query = sqlalchemy.text("select artifact_location from experiments where name = :name")
    found = connection.execute(query, {"name": experiment}).scalar()
    return None if found is None else str(found)


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of an SQLite store go beside it in ``mlartifacts/``; servers choose their own."""
    db = sqlite_path(uri)
    if db is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    return (db.parent / ARTIFACTS_FOLDER / safe).as_uri()


EXPERIMENT_NOTE = """\
Runs recorded by shallownet: how weight initialization and
activation functions shape training of a small numpy network.

- A sweep (`shallownet -m ...`) is one parent run, named after the axes swept; its
  description holds the comparison table (median [min-max] over seeds) and its
  artifacts `report/` the cost-curve grid. Each job is a child run, named after the
  values its job set, with a one-line description of what it shows.
- Params: the job's settings as typed (`init=small`, `init.name=normal`,
  `init.scale=0.01`, `activation`, `seed`, `train.*`, `model.*`).
- Metrics per step: `cost`; symmetry: `distinct_units` (1 = every hidden unit the
  same), `sym_rel_spread`; saturation: `sat_frac` (share of hidden activations in
  the flat tails), `mean_gprime`; `dead_frac` (relu: share with z <= 0, passing no
  gradient); `train_accuracy`, `grad_norm/W1`, ...;
  summaries `*_init`, `*_final`, `final_cost`.
- Status: FINISHED; FAILED or KILLED with the reason in the tag `failure_reason`.
"""

UI_HOST, UI_PORT = "127.0.0.1", 5000  # where ``mlflow ui`` serves a local store, if free


def ui_port() -> int:
    """The port a printed ``mlflow ui`` command serves on: 5000, or the next free one."""
    return free_port(UI_HOST, UI_PORT)


def ui_address(port: int = UI_PORT) -> str:
    return f"http://{UI_HOST}:{port}"


def ui_version(uri: str) -> str | None:
    """The version of the MLflow whose UI shows this store: a server's (its ``/version``;
    None if it does not say), else the installed one's."""
    if not served(uri):
        import mlflow

        return str(mlflow.__version__)
    try:
        response = requests.get(uri.rstrip("/") + "/version", timeout=answer_seconds())
        response.raise_for_status()
    except requests.RequestException:
        return None
    return response.text.strip()


def served(uri: str) -> bool:
    """Whether the store is a tracking server, which serves its own UI (no ``mlflow ui``)."""
    return uri.startswith(("http://", "https://"))


_prepared: dict[tuple[str, str], str] = {}  # (uri, experiment) -> id, once per process


def prepare(settings: TrackingSettings) -> str:
    """Check the store, create it and the experiment if needed; return the experiment id.

    Done once per process for each store and experiment: every job of a sweep asks.
    """
    key = (settings.uri, settings.experiment)
    if key not in _prepared:
        _prepared[key] = _prepare(settings)
    return _prepared[key]


def _prepare(settings: TrackingSettings) -> str:
    check_version()
    check_reachable(settings.uri)
    db = sqlite_path(settings.uri)
    if db is not None:
        from .sqlite import create

        create(settings.uri, db)
    client = MlflowClient(settings.uri)
    try:
        found = retry(client.get_experiment_by_name, settings.experiment)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                msg = (
                    f"tracking.experiment={settings.experiment!r} is invalid: it is deleted in "
                    f"{settings.uri}; restore it in the MLflow UI or choose another name"
                )
                raise ConfigError(msg)
            experiment_id = str(found.experiment_id)
            _describe(client, experiment_id, found.tags)
            if ended := end_vanished(client, experiment_id):
                log.warning("shallownet: ended %d run(s) KILLED: their process vanished", ended)
            return experiment_id
        location = artifact_location(settings.uri, settings.experiment)
        experiment_id = str(
            retry(client.create_experiment, settings.experiment, artifact_location=location)
        )
        _describe(client, experiment_id, {})
        return experiment_id
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_ALREADY_EXISTS":  # a concurrent process created it
            found = client.get_experiment_by_name(settings.experiment)
            if found is not None:
                return str(found.experiment_id)
        raise


def _describe(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> None:
    """Give the experiment what it lacks of: its description, and the kind that makes
    MLflow's UI open it on its runs (not on its GenAI traces view)."""
    wanted = {NOTE_TAG: EXPERIMENT_NOTE, EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    for key, value in wanted.items():
        if key not in tags:
            retry(client.set_experiment_tag, experiment_id, key, value)


def ui_command(uri: str, port: int = UI_PORT) -> str:
    """The command that shows this store in the MLflow UI, ready to paste."""
    if served(uri):
        return f"open {uri} in a browser"
    return (
        f"{executable('mlflow', 'mlflow')} ui --backend-store-uri {shlex.quote(uri)} "
        f"--host {UI_HOST} --port {port}"
    )
