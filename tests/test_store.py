"""The tracking store: checked before use, created atomically, runs of vanished processes
ended, signals mapped to exit codes."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from shallownet import interrupts
from shallownet.errors import ConfigError
from shallownet.processes import alive
from shallownet.tracking import runs
from shallownet.tracking.mlflow_internals import schema_revisions
from shallownet.tracking.owner import end_vanished, owner_tags
from shallownet.tracking.sqlite import check_file, create
from shallownet.tracking.store import check_reachable
from shallownet.vocabulary import HOST_TAG, PROCESS_TAG, REASON_TAG

from .cli_helpers import python_out, python_run, terminal_signals


def _store(folder: Path) -> tuple[str, Path]:
    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    create(uri, db)
    return uri, db


def test_create_makes_a_complete_store_and_clears_what_a_killed_creation_left(
    tmp_path: Path,
) -> None:
    stale = tmp_path / ".mlflow.db.creating-12345"
    stale.write_bytes(b"half a store")
    uri, db = _store(tmp_path)
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]
    check_file(uri, db)  # complete, at this MLflow's schema
    con = sqlite3.connect(db)
    (version,) = con.execute("select version_num from alembic_version").fetchone()
    con.close()
    assert version == schema_revisions()[0]
    create(uri, db)  # a second call leaves it as it is
    assert MlflowClient(uri).get_experiment("0") is not None


def _foreign_sqlite(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("create table notes (text)")
    con.commit()
    con.close()


def _older_schema(db: Path) -> None:
    create(f"sqlite:///{db}", db)
    known = sorted(schema_revisions()[1] - {schema_revisions()[0]})
    con = sqlite3.connect(db)
    con.execute("update alembic_version set version_num = ?", (known[0],))
    con.commit()
    con.close()


def _newer_schema(db: Path) -> None:
    create(f"sqlite:///{db}", db)
    con = sqlite3.connect(db)
    con.execute("update alembic_version set version_num = 'fromthefuture'")
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda db: db.mkdir(), "is a folder, not an MLflow SQLite file"),
        (lambda db: db.write_text("hello"), "is not an SQLite file; move it away"),
        (_foreign_sqlite, "is an SQLite database but not an MLflow store"),
        (_older_schema, "has an older MLflow schema"),
        (_newer_schema, "was written by a newer MLflow (schema fromthefuture); upgrade mlflow"),
    ],
)
def test_a_store_file_mlflow_cannot_use_is_refused_without_touching_it(
    make: object, message: str, tmp_path: Path
) -> None:
    db = tmp_path / "mlflow.db"
    make(db)  # type: ignore[operator]
    before = db.stat().st_mtime_ns, sorted(p.name for p in tmp_path.iterdir())
    uri = f"sqlite:///{db}"
    with pytest.raises(ConfigError) as caught:
        check_reachable(uri)
    text = str(caught.value)
    assert text.startswith(f"tracking.uri={uri!r} is invalid: ")
    assert message in text
    assert "\n" not in text
    if make is _older_schema:
        assert text.endswith(f"back it up, then run: mlflow db upgrade {uri}")
    assert (db.stat().st_mtime_ns, sorted(p.name for p in tmp_path.iterdir())) == before


def test_an_empty_file_is_a_store_to_be(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.touch()
    check_reachable(f"sqlite:///{db}")
    create(f"sqlite:///{db}", db)
    check_file(f"sqlite:///{db}", db)


def _dead_process() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{proc.pid}:"


WRITE_AND_CLOSE = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
con.execute("insert into experiments (name, lifecycle_stage) values ('other', 'active')")
con.commit()
con.close()  # the last connection to close checkpoints the WAL and deletes it
"""


def test_checking_a_store_this_process_holds_open_keeps_its_locks(tmp_path: Path) -> None:
    """A plain open() and close() of the store's file releases every POSIX lock this
    process holds on it, SQLite's too: another process that closes its connection then
    takes itself for the last one and deletes the WAL this one still writes to (issue
    "Nothing lost, round four": the Optuna search checked its store at every batch)."""
    uri, db = _store(tmp_path)
    held = sqlite3.connect(db)  # as the launching process holds MLflow's engine
    try:
        held.execute("select count(*) from experiments").fetchone()
        wal = db.with_name("mlflow.db-wal")
        assert wal.exists()
        check_reachable(uri)
        subprocess.run([sys.executable, "-c", WRITE_AND_CLOSE, str(db)], check=True, timeout=60)
        assert wal.exists(), "another process took itself for the store's last user"
        assert held.execute("select count(*) from experiments").fetchone()[0] == 2
    finally:
        held.close()
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone() == ("ok",)
    con.close()


def test_alive_knows_a_live_a_dead_and_a_reused_pid() -> None:
    mine = owner_tags()[PROCESS_TAG]
    assert alive(mine)
    assert not alive(_dead_process())
    pid, _, started = mine.partition(":")
    assert started  # Linux: the start time tells a reused pid apart
    assert not alive(f"{pid}:{int(started) - 1}")
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.05)  # ended, not yet collected
    assert not alive(f"{zombie.pid}:")
    zombie.wait()


def test_runs_of_vanished_processes_end_killed_with_the_reason(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path)
    client = MlflowClient(uri)
    here = owner_tags()

    def run_of(tags: dict[str, str]) -> str:
        return str(client.create_run("0", tags=tags).info.run_id)

    vanished = run_of({**here, PROCESS_TAG: _dead_process()})
    live = run_of(here)
    elsewhere = run_of({HOST_TAG: "another-host", PROCESS_TAG: _dead_process()})
    untagged = run_of({})  # not shallownet's: left alone
    assert end_vanished(client, "0") == 1
    ended = client.get_run(vanished)
    assert ended.info.status == "KILLED"
    assert ended.data.tags[REASON_TAG].startswith("process vanished: ")
    for run_id in (live, elsewhere, untagged):
        assert client.get_run(run_id).info.status == "RUNNING"
    client.set_tag(live, "x", "y")  # still writable: untouched


def test_signals_map_to_the_shells_exit_codes() -> None:
    assert interrupts.exit_code(KeyboardInterrupt()) == 130
    assert interrupts.exit_code(interrupts.Interrupted(signal.SIGTERM)) == 143
    assert interrupts.exit_code(interrupts.Interrupted(signal.SIGHUP)) == 129
    assert interrupts.reason(interrupts.Interrupted(signal.SIGTERM)) == "interrupted by SIGTERM"
    # as it comes back from a worker process
    back = pickle.loads(pickle.dumps(interrupts.Interrupted(signal.SIGHUP)))
    assert isinstance(back, interrupts.Interrupted)
    assert interrupts.exit_code(back) == 129


@pytest.mark.parametrize(
    ("sig", "code", "reason"),
    [
        (signal.SIGINT, 130, "interrupted by SIGINT"),
        (signal.SIGTERM, 143, "interrupted by SIGTERM"),
        (signal.SIGHUP, 129, "interrupted by SIGHUP"),  # the terminal closed
    ],
)
def test_each_signal_that_stops_a_command_is_its_interrupt(
    sig: signal.Signals, code: int, reason: str
) -> None:
    """Delivered to a process whose handlers are installed, each signal a sweep stops on
    is raised as its own interrupt, with the shell's exit code and the runs' reason (as
    the SIGTERM end to end in tests/test_faults.py), and a second one is taken quietly."""
    signal.signal(sig, signal.SIG_DFL)  # as a terminal starts a command (not nohup, not &)
    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted) as raised:
            os.kill(os.getpid(), sig)  # handled as the call returns, in this main thread
        os.kill(os.getpid(), sig)  # a second one while the runs end: ignored
    assert raised.value.signum == sig
    assert interrupts.exit_code(raised.value) == code
    assert interrupts.reason(raised.value) == reason


def test_a_command_exiting_on_a_signal_is_not_killed_by_the_next_one() -> None:
    """Ctrl-C twice: the second reached the command as Python finalized it, which gives a
    handled signal its default action back, and killed it (-2, not 130). Here signals
    keep coming until the process has exited."""
    code = (
        "import os, subprocess, sys\n"
        "from shallownet import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    os.kill(os.getpid(), 2)\n"
        "except KeyboardInterrupt as exc:\n"
        "    subprocess.Popen(['sh', '-c', f'while kill -INT {os.getpid()}; do :; done'],\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "    sys.exit(interrupts.exiting(exc))\n"
    )
    # a terminal's signal dispositions (the test starts no threads meanwhile)
    done = python_run(code, preexec_fn=terminal_signals, check=False)
    assert done.returncode == 130, done.stderr


def test_a_signal_whose_exception_was_lost_still_stops_training() -> None:
    code = (
        "import os, signal, numpy as np, shallownet as sn\n"
        "from shallownet import interrupts\n"
        "interrupts.install()\n"
        "class Lose(sn.Callback):\n"
        "    every = 10\n"
        "    def on_step(self, state):\n"
        "        if state.step == 100:\n"
        "            try:\n"
        "                os.kill(os.getpid(), signal.SIGTERM)\n"
        "            except KeyboardInterrupt:\n"
        "                pass  # as Python does in a destructor or weakref callback\n"
        "X, Y = sn.datasets.flower()\n"
        "try:\n"
        "    sn.train(sn.Network(2), X, Y, iterations=100_000,\n"
        "             callbacks=[Lose(), interrupts.StopOnSignal(10)])\n"
        "except interrupts.Interrupted as exc:\n"
        "    print('stopped', exc)\n"
    )
    assert python_out(code).strip() == "stopped SIGTERM"


RACE_AND_LOSS = """
import gc, os, signal, sys, weakref
from shallownet import interrupts
interrupts.install()
class Thing:
    pass
def callback(ref):
    os.kill(os.getpid(), signal.SIGINT)  # raised in a weakref callback: lost, yet kept
thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    gc.collect()
    os.kill(os.getpid(), signal.SIGTERM)  # after the first signal: ignored, silently
    interrupts.check()
except interrupts.Interrupted as exc:
    print("stopped", exc)
def other(ref):
    raise ValueError("other")  # any other error where Python cannot raise it
other_thing = Thing()
other_ref = weakref.ref(other_thing, other)
del other_thing
gc.collect()
"""


def test_signals_after_the_first_and_a_lost_signals_exception_print_nothing() -> None:
    """After Ctrl-C a sweep's processes printed "Signal 15 ignored due to race condition"
    and "Exception ignored in ... Interrupted: SIGINT" (the signal was kept all the same);
    other unraisable errors are still printed."""
    out = python_run(
        RACE_AND_LOSS,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    assert out.stdout.strip() == "stopped SIGINT"
    assert "Interrupted" not in out.stderr
    assert "race condition" not in out.stderr
    assert "ValueError: other" in out.stderr


def test_relative_sqlite_uris_name_a_file_where_the_command_runs(tmp_path: Path) -> None:
    from shallownet.settings import _absolute

    assert _absolute("sqlite:///runs/x.db", tmp_path) == f"sqlite:///{tmp_path}/runs/x.db"
    assert _absolute(None, tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert _absolute("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert _absolute("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    assert os.sep in _absolute("sqlite:///x.db?timeout=5", tmp_path)


def test_a_signal_ignored_at_start_stays_ignored() -> None:
    """``nohup shallownet -m ...`` survives the terminal closing (SIGHUP), as Python keeps
    an ignored SIGINT ignored."""
    code = (
        "import signal\n"
        "from shallownet import interrupts\n"
        "interrupts.install()\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN,\n"
        "      signal.getsignal(signal.SIGTERM) is interrupts._raise)\n"
    )
    out = python_out(code, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert out.split() == ["True", "True"]


def _journal(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return str(con.execute("pragma journal_mode").fetchone()[0])
    finally:
        con.close()


def test_the_store_journals_in_wal_mode_and_checking_it_leaves_no_files(tmp_path: Path) -> None:
    uri, db = _store(tmp_path)
    assert _journal(db) == "wal"
    check_reachable(uri)
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]


def test_an_older_store_switches_to_wal_once_no_other_process_holds_it(tmp_path: Path) -> None:
    uri, db = _store(tmp_path)
    con = sqlite3.connect(db)
    con.execute("pragma journal_mode=delete")
    con.execute("begin exclusive")  # another writer holds it: the switch gives up (0.1 s)
    try:
        create(uri, db)
    finally:
        con.rollback()
    assert _journal(db) == "delete"
    con.close()
    create(uri, db)
    assert _journal(db) == "wal"


def test_a_new_store_is_a_copy_of_the_cached_empty_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first store built is kept (named after the MLflow and SQLAlchemy that built it);
    later ones are copies of it, which MLflow opens and writes; a cache file that is not
    a usable store is replaced by a store built afresh."""
    from shallownet.tracking import sqlite

    monkeypatch.setenv(sqlite.CACHE_ENV, str(tmp_path / "cache"))
    cached = sqlite.cached_store()
    assert cached.parent == tmp_path / "cache"
    assert cached.name.startswith("empty-store-mlflow-")
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    for db in (first, second):
        db.parent.mkdir()
    create(f"sqlite:///{first}", first)
    assert cached.read_bytes() == first.read_bytes()  # kept
    create(f"sqlite:///{second}", second)
    assert second.read_bytes() == cached.read_bytes()  # copied
    client = MlflowClient(f"sqlite:///{second}")
    run = client.create_run(client.create_experiment("from the copy"))
    client.log_metric(run.info.run_id, "cost", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"cost": 0.5}
    cached.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # a broken cache file
    third = tmp_path / "c" / "mlflow.db"
    third.parent.mkdir()
    create(f"sqlite:///{third}", third)
    check_file(f"sqlite:///{third}", third)  # a complete store all the same
    assert cached.read_bytes() == third.read_bytes()  # and the cache mended


@pytest.mark.parametrize("through_a_link", [False, True])
def test_a_store_path_that_is_not_a_regular_file_is_refused_untouched(
    through_a_link: bool, tmp_path: Path
) -> None:
    """A FIFO (or a device, a socket) named as the store, directly or through a symbolic
    link, is refused in one line before anything reads it (reading a FIFO blocks), and is
    never replaced by a store."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    db = tmp_path / "mlflow.db"
    if through_a_link:
        db.symlink_to(fifo)
    else:
        db = fifo
    uri = f"sqlite:///{db}"
    with pytest.raises(ConfigError, match=r"is a FIFO or socket, not a regular file; a store"):
        check_reachable(uri)
    with pytest.raises(ConfigError, match=r"is a FIFO or socket, not a regular file"):
        create(uri, db.resolve())  # even if asked to create it there
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"fifo", db.name})


def test_the_command_refuses_a_fifo_as_its_store_and_writes_nothing(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "mlflow.db")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "shallownet"), "train.iterations=5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "mlflow.db' is a FIFO or socket, not a regular file" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]


def test_the_ui_of_a_local_store_is_the_installed_mlflows(tmp_path: Path) -> None:
    import mlflow

    from shallownet.tracking.store import ui_version

    assert ui_version(f"sqlite:///{tmp_path}/mlflow.db") == mlflow.__version__
    assert ui_version("http://127.0.0.1:9") is None  # nothing answers: not known


@pytest.mark.parametrize(("wait", "reachable"), [("3", True), ("0.2", False)])
def test_a_slow_server_is_waited_for_as_long_as_mlflows_client_waits(
    wait: str, reachable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server answering in 2 s on a loaded machine was refused as unreachable (the check
    waited 5 s; issue "Nothing lost, round four"): the check waits as long as MLflow's
    client does for the runs' writes (MLFLOW_HTTP_REQUEST_TIMEOUT), so it refuses only
    a server the runs could not use either. (Here a server answering in 0.5 s.)"""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shallownet.errors import ConfigError
    from shallownet.tracking.store import check_reachable

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(0.5)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, *args: object) -> None:
            pass  # the client that gave up closed the connection: the answer's write fails

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", wait)
    server = Quiet(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        if reachable:
            check_reachable(uri)
        else:
            with pytest.raises(ConfigError, match=r"is unreachable \(ReadTimeout\); start"):
                check_reachable(uri)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_server_that_answers_health_but_is_not_mlflow_is_refused() -> None:
    """A web server on the port that says OK to /health (many do) but has no MLflow API."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shallownet.errors import ConfigError
    from shallownet.tracking.store import check_reachable

    class NotMlflow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            healthy = self.path == "/health"
            self.send_response(200 if healthy else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"OK" if healthy else b"<h1>Not found</h1>")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(ConfigError) as refused:
            check_reachable(uri)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert str(refused.value) == (
        f"tracking.uri={uri!r} is invalid: it answers /health but not MLflow's API "
        "(GET /api/2.0/mlflow/experiments/search?max_results=1: HTTP 404); give the address "
        "of an mlflow server"
    )


def test_a_server_found_gone_in_a_worker_is_not_waited_on_again_until_it_answers() -> None:
    """A job's error saying the server stopped answering (from a worker) makes this
    process's writes fail at once; the server answering its check lets them through."""
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        return "written"

    try:
        from_worker = RuntimeError("batch failed")
        from_worker.__cause__ = runs.StoreUnreachable("the tracking server stopped answering")
        runs.note_unreachable(from_worker)
        with pytest.raises(runs.StoreUnreachable, match="stopped answering"):
            runs.retry(write)
        assert calls == []  # not even tried
        runs.note_unreachable(ValueError("a plugin's own error"))  # says nothing of it
        with pytest.raises(runs.StoreUnreachable):
            runs.retry(write)
    finally:
        runs.server_answers()
    assert runs.retry(write) == "written"
    assert calls == [1]


def test_a_signal_during_plugin_code_leaves_later_signals_ignored() -> None:
    """Plugin code runs with the command's handlers kept (a plugin cannot set SIGTERM to
    SIG_IGN), but a signal that arrives meanwhile is the first: later ones are ignored
    while the runs are ended, as anywhere else."""
    code = (
        "import os, signal\n"
        "from shallownet import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    with interrupts.plugin_faults():\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "except interrupts.Interrupted as exc:\n"
        "    print('stopped', exc)\n"
        "os.kill(os.getpid(), signal.SIGTERM)  # a second one: ignored\n"
        "print('still here', signal.getsignal(signal.SIGTERM) is interrupts._raise)\n"
    )
    assert python_out(code).split("\n")[:2] == ["stopped SIGTERM", "still here False"]
