"""Reading back what a command left in an MLflow store."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient


def experiment_runs(uri: str, experiment: str = "shallownet") -> list[Run]:
    """Every run of an experiment (parents and children)."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    return client.search_runs([exp.experiment_id], max_results=1000)


def parents_and_children(uri: str, experiment: str = "shallownet") -> tuple[list[Run], list[Run]]:
    """(sweep parent runs, child runs) of an experiment."""
    runs = experiment_runs(uri, experiment)
    parents = [r for r in runs if r.data.tags.get("shallownet.role") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    """Every artifact file of a run, with its path inside the run."""
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        out |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def store_schema(db: Path) -> tuple[str, set[str]]:
    """An SQLite store's schema revision (Alembic's) and its tables."""
    con = sqlite3.connect(db)
    try:
        (version,) = con.execute("select version_num from alembic_version").fetchone()
        tables = {row[0] for row in con.execute("select name from sqlite_master")}
    finally:
        con.close()
    return str(version), tables


def printed_runs_in_store(db: Path, printed: str) -> dict[str, str]:
    """Check an SQLite store is intact and holds every run a command printed
    (``...: FINISHED, ...; MLflow run <id> in ...``) with the status it printed; the
    printed runs by id with their status."""
    said = {
        run_id: status
        for status, run_id in re.findall(
            r": (FINISHED|FAILED)\b.*; MLflow run ([0-9a-f]{32})", printed
        )
    }
    con = sqlite3.connect(db)
    try:
        assert con.execute("pragma integrity_check").fetchall() == [("ok",)]
        stored = dict(con.execute("select run_uuid, status from runs").fetchall())
    finally:
        con.close()
    lost = {run_id: status for run_id, status in said.items() if stored.get(run_id) != status}
    assert not lost, f"printed but not so in the store: {lost}"
    return said
