"""What shallownet uses of MLflow beyond its public client, against the installed MLflow
(tracking/mlflow_internals.py): each of these is what an MLflow upgrade could break."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient

from shallownet.tracking import mlflow_internals as internals

from .store_helpers import store_schema


def test_the_schema_revisions_are_mlflows_own(tmp_path: Path) -> None:
    head, known = internals.schema_revisions()
    assert head in known
    assert len(known) > 10  # MLflow 3 has dozens of migrations
    db = tmp_path / "empty.db"
    internals.build_empty_store(db)
    version, tables = store_schema(db)
    assert version == head
    assert {"experiments", "runs", "metrics", "params", "tags"} <= tables
    assert f"sqlite:///{db}" not in getattr(SqlAlchemyStore, "_engine_map", {})


FORK = """
import multiprocessing, sys
from mlflow.tracking import MlflowClient
from shallownet.tracking.mlflow_internals import forget_inherited_connections

def child(uri, run_id):
    forget_inherited_connections()
    MlflowClient(uri).log_metric(run_id, "from_child", 1.0, step=0)

if __name__ == "__main__":
    uri = sys.argv[1]
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("fork")).info.run_id
    client.log_metric(run_id, "from_parent", 1.0, step=0)  # a connection in the pool
    process = multiprocessing.get_context("fork").Process(target=child, args=(uri, run_id))
    process.start()
    process.join(60)
    client.log_metric(run_id, "from_parent", 2.0, step=1)  # the parent's still works
    print(process.exitcode, sorted(client.get_run(run_id).data.metrics.items()))
"""


def test_a_forked_child_writes_on_its_own_connections(tmp_path: Path) -> None:
    """As a forked worker of the batched launcher does (in a fresh process: pytest's may
    run threads, and fork copies only the calling one)."""
    script = tmp_path / "fork.py"
    script.write_text(FORK)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = subprocess.run(
        [sys.executable, str(script), uri],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "0 [('from_child', 1.0), ('from_parent', 2.0)]"


FORK_AND_COLLECT = """
import gc, os, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from shallownet.tracking.mlflow_internals import forget_inherited_connections
from shallownet.tracking.sqlite import create

db = Path(sys.argv[1])
create(f"sqlite:///{db}", db)  # a store as shallownet makes it: in WAL mode
client = MlflowClient(f"sqlite:///{db}")
client.create_run(client.create_experiment("fork"))  # a connection in the pool
with db.open("rb"):  # this process's locks dropped: the hazard a fork must not turn
    pass             # into a deleted WAL
pid = os.fork()
if pid == 0:
    forget_inherited_connections()
    gc.collect()  # what a worker does sooner or later
    os._exit(0)
os.waitpid(pid, 0)
print(Path(f"{db}-wal").exists())
"""


def test_a_forked_child_never_closes_the_connections_it_inherited(tmp_path: Path) -> None:
    """Closing them in the child would checkpoint and delete the WAL its parent writes to,
    were the parent's locks gone ("do not carry an SQLite connection across fork()")."""
    script = tmp_path / "collect.py"
    script.write_text(FORK_AND_COLLECT)
    db = tmp_path / "mlflow.db"
    out = subprocess.run(
        [sys.executable, str(script), str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "True"


def test_metric_histories_in_bulk_equal_the_clients(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("bulk")
    run_ids = [client.create_run(experiment).info.run_id for _ in range(3)]
    for k, run_id in enumerate(run_ids):
        points = [Metric("cost", 1.0 / (k + step + 1), 0, step) for step in range(5)]
        client.log_batch(run_id, metrics=points)
    rows = internals.metric_history_bulk(client, run_ids, "cost", chunk=2)
    assert rows is not None
    expected = [
        (run_id, m.step, m.value)
        for run_id in run_ids
        for m in client.get_metric_history(run_id, "cost")
    ]
    assert sorted(rows) == sorted(expected)
    assert len(rows) == 15


def test_the_installed_ui_reads_saved_views() -> None:
    assert internals.ui_reads_saved_views()  # the full mlflow package, 3.7 or later


def test_a_newer_mlflow_than_verified_is_named_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert internals._release("3.17.2") < internals._release("3.18.0rc1")
    assert internals._release("3.7.0") < internals._release("3.17.2")
    internals.check_version.cache_clear()
    monkeypatch.setattr(internals, "version", lambda _: "9.0.1")
    with caplog.at_level(logging.WARNING, logger="shallownet"):
        assert internals.check_version() == "9.0.1"
        internals.check_version()
    internals.check_version.cache_clear()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert (
        "MLflow 9.0.1 is newer than the newest version shallownet was verified with" in warned[0]
    )
    assert f"'mlflow=={internals.VERIFIED[-1]}'" in warned[0]


def test_inserted_metrics_read_back_as_log_batchs(tmp_path: Path) -> None:
    """The bulk insert stores what log_batch stores: every point, and the latest value
    of each key as the run's metric; a value that is not finite is left to log_batch."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("insert")
    points = [
        Metric(f"m{k}", 0.5 + k + step / 7, 1_000 + step, step)
        for k in range(3)
        for step in range(40)
    ]
    logged, inserted = (client.create_run(experiment).info.run_id for _ in range(2))
    client.log_batch(logged, metrics=points)
    assert internals.insert_metrics(client, inserted, points)
    for key in ("m0", "m1", "m2"):
        mine = [(m.step, m.value, m.timestamp) for m in client.get_metric_history(inserted, key)]
        theirs = [(m.step, m.value, m.timestamp) for m in client.get_metric_history(logged, key)]
        assert sorted(mine) == sorted(theirs)
        assert len(mine) == 40
    assert client.get_run(inserted).data.metrics == client.get_run(logged).data.metrics
    assert not internals.insert_metrics(client, inserted, [Metric("m0", float("nan"), 0, 99)])
    assert len(client.get_metric_history(inserted, "m0")) == 40  # nothing written


def test_named_views_from_mlflow_3_15() -> None:
    assert [
        internals.lists_named_views(v) for v in ("3.7.0", "3.14.1", "3.15.0", "3.17.2", "4.0")
    ] == [False, False, True, True, True]
    assert internals.lists_named_views("not a version") is False


def test_a_view_saved_by_name_is_the_envelope_mlflows_views_menu_reads() -> None:
    """MLflow 3.15's SavedViewEnvelope: name, createdAt and updatedAt (ms), and the state
    as the shared-view URL reads it (deflated JSON); without a name, the bare state."""
    import base64
    import json
    import time
    import zlib

    from shallownet.tracking import view

    state = {"searchFilter": "tags.`mlflow.parentRunId` = 'abc'", "groupBy": None}
    bare = view.tag_value(state)
    assert bare.startswith("deflate;")
    decoded = json.loads(zlib.decompress(base64.b64decode(bare.removeprefix("deflate;"))))
    assert decoded == state
    envelope = json.loads(view.tag_value(state, "main: init=zeros,small"))
    assert set(envelope) == {"name", "createdAt", "updatedAt", "state"}
    assert envelope["name"] == "main: init=zeros,small"
    assert envelope["state"] == bare
    assert envelope["createdAt"] == envelope["updatedAt"]
    assert abs(envelope["createdAt"] / 1000 - time.time()) < 60
