"""Faults at every stage, tried as an adversarial user would: after each, every job has
one run (the report's), no run is RUNNING, and every FAILED or KILLED run says why.

Sweeps started together on a fresh store; a store killed while being created; SIGTERM,
SIGHUP and kill -9 of a sweep, then resume; a plugin that raises while the network is
built, in one and two workers; an MLflow server stopped mid-sweep; a disk that fills.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.entities import Run

from shallownet.processes import alive
from shallownet.report import load_sweep
from shallownet.tracking.mlflow_internals import schema_revisions
from shallownet.vocabulary import PROCESS_TAG

from .cli_helpers import REPO, group_gone, run_cli, run_together, started, wait_for, written
from .servers import mlflow_server, mlflow_server_group
from .store_helpers import experiment_runs, parents_and_children, store_schema

pytestmark = pytest.mark.slow


def sweep_of(iterations: int) -> tuple[str, ...]:
    """2 x 2 x 3 = 12 jobs, long enough to be stopped while some are under way."""
    return (
        "-m",
        "init=small,large",
        "activation=tanh,relu",
        "seed=range(3)",
        f"train.iterations={iterations}",
        "tracking.figures=false",
    )


SLOW = sweep_of(30_000)


def assert_truthful(uri: str) -> list[Run]:
    """No run RUNNING; every FAILED or KILLED run (parent or child) has its reason."""
    runs = experiment_runs(uri)
    for run in runs:
        assert run.info.status != "RUNNING", run.info.run_name
        if run.info.status in ("FAILED", "KILLED"):
            assert run.data.tags.get("failure_reason"), run.info.run_name
    return runs


def children_by_status(uri: str) -> Counter[str]:
    if not (Path(uri.removeprefix("sqlite:///")).is_file()):
        return Counter()
    try:
        _, children = parents_and_children(uri)
    except AssertionError:  # no experiment yet
        return Counter()
    return Counter(run.info.status for run in children)


def under_way(uri: str) -> bool:
    """Two runs FINISHED and one RUNNING that started after a run ended: the moment to
    stop a sweep. That run's batch has just begun its training, so it is still training
    when the stop arrives; a run RUNNING as the first batches end may be recorded a few
    milliseconds later, before a worker could notice (this made kill -9's test flaky)."""
    if not Path(uri.removeprefix("sqlite:///")).is_file():
        return False
    try:
        _, children = parents_and_children(uri)
    except AssertionError:  # no experiment yet
        return False
    ends = [r.info.end_time for r in children if r.info.status == "FINISHED"]
    if len(ends) < 2:
        return False
    return any(r.info.status == "RUNNING" and r.info.start_time > min(ends) for r in children)


def wait_under_way(proc: subprocess.Popen[str], uri: str, seconds: float) -> None:
    """Wait until the sweep is :func:`under_way`; fail saying what it printed if it
    ended first, and what the store held if it never got there."""
    deadline = time.monotonic() + seconds
    while not under_way(uri):
        if proc.poll() is not None:
            _, stderr = proc.communicate()
            pytest.fail(f"the sweep ended (exit {proc.returncode}) first: {stderr[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not under way after {seconds} s: {dict(children_by_status(uri))}")
        time.sleep(0.2)


def report_on(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``shallownet-report ARGS`` run in ``folder`` (its files in ``folder/report``)."""
    out = ("--no-attach", "--out", str(folder / "report"))
    return run_cli(*args, *out, cwd=folder, command="shallownet-report")


def resume_completes(folder: Path, uri: str, parent_id: str, sweep: tuple[str, ...]) -> None:
    """The same sweep with tracking.skip_finished=true completes the study under its parent."""
    result = run_cli(*sweep, "tracking.skip_finished=true", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert f"resuming the sweep of parent run {parent_id}" in result.stdout + result.stderr
    parents, _ = parents_and_children(uri)
    assert [p.info.run_id for p in parents] == [parent_id]  # one study, one parent
    assert parents[0].info.status == "FINISHED"
    tags = parents[0].data.tags
    assert (tags["children_finished"], tags["children_killed"]) == ("12", "0")  # as it is now
    assert "failure_reason" not in tags  # the earlier attempt's reason is gone
    assert_truthful(uri)
    study = load_sweep(uri)
    assert study.parent_id == parent_id
    assert len(study.runs) == 12
    assert study.statuses == {"FINISHED": 12}
    assert study.missing == []


@pytest.mark.parametrize("sweeps", [2, 3])
def test_sweeps_started_together_on_a_fresh_store(sweeps: int, tmp_path: Path) -> None:
    sweep = ("-m", "train.iterations=50", "tracking.figures=false")
    outcomes = run_together(
        tmp_path,
        *((*sweep, f"seed={n},{n + 10}", f"hydra.sweep.dir=multirun/{n}") for n in range(sweeps)),
        timeout=300,
    )
    for code, stderr in outcomes:
        assert code == 0, stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parents, children = parents_and_children(uri)
    assert len(parents) == sweeps
    assert all(p.info.status == "FINISHED" for p in parents)
    by_parent = Counter(c.data.tags["mlflow.parentRunId"] for c in children)
    assert by_parent == {p.info.run_id: 2 for p in parents}  # each sweep, its own runs
    assert_truthful(uri)


def _complete_or_absent(db: Path) -> bool:
    """The store is absent, or a complete MLflow store at this MLflow's schema."""
    if not db.exists():
        return True
    version, tables = store_schema(db)
    return version == schema_revisions()[0] and {"experiments", "runs", "metrics"} <= tables


def test_a_store_killed_while_being_created_is_absent_or_complete(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    for delay in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5):
        with started(tmp_path, "train.iterations=20", "tracking.figures=false") as proc:
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
        assert _complete_or_absent(db), f"killed after {delay} s"
    result = run_cli("train.iterations=20", "tracking.figures=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob(".mlflow.db.creating-*"))
    assert _complete_or_absent(db)
    assert_truthful(f"sqlite:///{db}")  # the killed runs' runs ended: process vanished


def test_a_signal_to_the_sweep_alone_kills_its_runs_and_stops_its_workers(
    tmp_path: Path,
) -> None:
    """SIGTERM of the launching process alone (SIGHUP and SIGINT are the same interrupt
    with their own code and reason: tests/test_store.py, in process)."""
    sig, code = signal.SIGTERM, 143
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *SLOW) as proc:
        wait_under_way(proc, uri, 240)
        os.kill(proc.pid, sig)  # the launching process alone, not its group
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == code, stderr
        assert f"shallownet: interrupted by {sig.name}" in stderr
        wait_for(lambda: group_gone(proc.pid), 60, "the workers to stop")
    runs = assert_truthful(uri)
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    assert parent.info.status == "KILLED"
    assert parent.data.tags["failure_reason"] == f"interrupted by {sig.name}"
    killed = [r for r in runs if r.info.status == "KILLED" and r is not parent]
    assert killed
    for run in killed:
        assert run.data.tags["failure_reason"].startswith(f"interrupted by {sig.name}")
    resume_completes(tmp_path, uri, parent.info.run_id, SLOW)


@pytest.mark.parametrize("gap", [0.1, 0.02])
def test_two_ctrl_cs_in_a_row_leave_nothing_running(gap: float, tmp_path: Path) -> None:
    """The second Ctrl-C (to the whole group, as a terminal sends it) is ignored while
    the first one's runs are ended: exit 130, every run ended, the parent KILLED."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *SLOW) as proc:
        wait_under_way(proc, uri, 240)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(gap)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        wait_for(lambda: group_gone(proc.pid), 60, "the workers to stop")
    runs = assert_truthful(uri)
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    assert parent.info.status == "KILLED"
    assert parent.data.tags["failure_reason"] == "interrupted by SIGINT"


def test_kill_9_of_a_sweep_then_resume(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    long_sweep = sweep_of(100_000)  # a batch lasts far longer than a worker takes to notice
    with started(tmp_path, *long_sweep) as proc:
        wait_under_way(proc, uri, 300)
        os.kill(proc.pid, signal.SIGKILL)  # cannot be caught
        proc.communicate(timeout=60)
        # its workers notice and stop on their own
        wait_for(lambda: group_gone(proc.pid), 60, "the orphaned workers to stop")
    assert children_by_status(uri)["RUNNING"] >= 1  # what kill -9 leaves ...
    report = report_on(tmp_path)
    assert report.returncode == 0, report.stderr
    runs = assert_truthful(uri)  # ... until the next command on the store
    vanished = [r for r in runs if r.info.status == "KILLED"]
    assert vanished
    for run in vanished:
        assert run.data.tags["failure_reason"].startswith("process vanished: ")
    assert "incomplete: " in report.stdout
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    resume_completes(tmp_path, uri, parent.info.run_id, long_sweep)


def one_finished_run_per_job(uri: str) -> None:
    """Every one of the 12 configurations FINISHED, each exactly once; nothing RUNNING."""
    assert_truthful(uri)
    _, children = parents_and_children(uri)
    done = Counter(
        c.data.tags["shallownet.config_hash"] for c in children if c.info.status == "FINISHED"
    )
    assert len(done) == 12
    assert set(done.values()) == {1}, done  # no job trained twice


def test_a_resume_started_while_its_sweep_runs_leaves_each_job_to_one_command(
    tmp_path: Path,
) -> None:
    """The resume skips what the sweep has FINISHED or is training; the sweep skips what
    the resume took; neither ends the other's runs; each job FINISHES once."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # long enough to be training still when the resume looks, on a loaded machine too
    # (with SLOW's, the resume's start-up once outlasted the sweep's last jobs)
    longer = sweep_of(100_000)
    resume = (*longer, "tracking.skip_finished=true", "hydra.sweep.dir=multirun/resume")
    with started(tmp_path, *longer) as proc:
        wait_under_way(proc, uri, 240)
        beside = run_cli(*resume, cwd=tmp_path)
        stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert beside.returncode == 0, beside.stderr
    said = stdout + stderr + beside.stdout + beside.stderr
    assert "skipped, another command of this sweep is training it (pid " in said
    one_finished_run_per_job(uri)
    (parent,), _ = parents_and_children(uri)  # the resume joined the sweep's parent run
    assert parent.info.status == "FINISHED"


def test_two_resumes_at_once_train_each_job_once(tmp_path: Path) -> None:
    """A sweep stopped half way, then resumed by two commands started together: each job
    left is trained by one of them (claimed under the store's lock), and FINISHES once."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *SLOW) as proc:
        wait_under_way(proc, uri, 240)
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=120)
    assert children_by_status(uri)["KILLED"] >= 1
    resume = (*SLOW, "tracking.skip_finished=true")
    outcomes = run_together(
        tmp_path, *((*resume, f"hydra.sweep.dir=multirun/resume{n}") for n in range(2))
    )
    for code, stderr in outcomes:
        assert code == 0, stderr
    one_finished_run_per_job(uri)


def test_kill_9_of_a_joblib_sweep_stops_its_workers(tmp_path: Path) -> None:
    """Hydra's joblib launcher: after kill -9 of the launching process its workers stop
    within seconds (they trained on for minutes and started new jobs), and the next
    command ends the runs they left."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *sweep_of(100_000), "hydra/launcher=joblib") as proc:
        wait_for(lambda: children_by_status(uri)["RUNNING"] >= 2, 300, "two jobs to start")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        wait_for(lambda: group_gone(proc.pid), 60, "the orphaned workers to stop")
    left = children_by_status(uri)
    assert left["RUNNING"] >= 1  # what kill -9 leaves: the workers did not end their runs
    assert sum(left.values()) <= 4  # and took no new job
    report = report_on(tmp_path)
    assert report.returncode == 0, report.stderr
    runs = assert_truthful(uri)
    assert any(r.data.tags.get("failure_reason", "").startswith("process vanished") for r in runs)


SUBMITIT_LOCAL = ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10")


def test_a_signal_to_a_submitit_local_sweep_stops_its_jobs_for_good(tmp_path: Path) -> None:
    """Hydra's submitit_local launcher: SIGTERM of the sweep alone stops its jobs (each
    runner passes it on) before the parent run ends them, in one line: every run KILLED,
    and still so once every process that wrote a run has ended (a job trained on and set
    its runs FINISHED)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *sweep_of(100_000), *SUBMITIT_LOCAL) as proc:
        wait_for(lambda: children_by_status(uri)["RUNNING"] == 12, 300, "the 12 jobs to start")
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 143, stderr
        assert "Traceback" not in stderr, stderr
        wait_for(lambda: group_gone(proc.pid), 60, "the jobs to stop")
    ended = endings(assert_truthful(uri))
    assert {status for status, _ in ended.values()} == {"KILLED"}
    assert all(reason.startswith("interrupted by SIGTERM") for _, reason in ended.values())
    writers = {run.data.tags[PROCESS_TAG] for run in experiment_runs(uri)}
    wait_for(lambda: not any(map(alive, writers)), 60, "every process that wrote a run to end")
    assert endings(experiment_runs(uri)) == ended


def endings(runs: list[Run]) -> dict[str, tuple[str, str]]:
    """Each run's status and reason, by id."""
    return {r.info.run_id: (r.info.status, r.data.tags.get("failure_reason", "")) for r in runs}


def test_kill_9_of_a_submitit_local_sweep_stops_its_jobs(tmp_path: Path) -> None:
    """Hydra's submitit_local launcher: after kill -9 of the launching process its jobs stop
    within seconds (their parent is submitit's runner, which outlives it: they trained on),
    and the next command ends the runs they left."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *sweep_of(100_000), *SUBMITIT_LOCAL) as proc:
        wait_for(lambda: children_by_status(uri)["RUNNING"] == 12, 300, "the 12 jobs to start")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        wait_for(lambda: group_gone(proc.pid), 60, "the orphaned jobs to stop")
    assert children_by_status(uri) == {"RUNNING": 12}  # what kill -9 leaves
    report = report_on(tmp_path)
    assert report.returncode == 0, report.stderr
    runs = assert_truthful(uri)
    children = [r for r in runs if r.data.tags.get("shallownet.role") != "sweep"]
    assert len(children) == 12
    for run in children:
        assert run.data.tags["failure_reason"].startswith("process vanished: "), run.info.run_name


def kill_a_worker(uri: str, launcher: int) -> tuple[Run, int]:
    """kill -9 of the worker process that owns a RUNNING run (as the kernel's out-of-memory
    killer does); that run and the worker's pid."""
    _, children = parents_and_children(uri)
    owner = next(c for c in children if c.info.status == "RUNNING")
    pid = int(owner.data.tags["shallownet.process"].partition(":")[0])
    assert pid != launcher  # a worker's run, not the launching process's
    os.kill(pid, signal.SIGKILL)
    return owner, pid


def test_a_worker_killed_fails_its_own_batch_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """kill -9 of one worker process (as the kernel's out-of-memory killer does): the jobs
    of its batch FAIL saying so (those whose run it had not opened yet are the report's
    MISSING: never started), a new worker takes the batches left, every other job
    FINISHES, and a resume runs the failed jobs again."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"

    def a_batch_running() -> bool:
        counts = children_by_status(uri)
        return counts["RUNNING"] >= 1 and counts["FINISHED"] == 0

    with started(tmp_path, *SLOW) as proc:
        wait_for(a_batch_running, 240, "a batch to start")
        owner, pid = kill_a_worker(uri, proc.pid)
        stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr  # the sweep went on to its end, and lost jobs
    runs = assert_truthful(uri)
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    assert parent.info.status == "FINISHED"
    _, children = parents_and_children(uri)
    failed = [c for c in children if c.info.status == "FAILED"]
    assert failed  # the dead worker's batch, and no other
    assert {c.data.tags["shallownet.process"] for c in failed} == {
        owner.data.tags["shallownet.process"]
    }
    for run in failed:
        assert run.data.tags["failure_reason"] == (
            f"worker process {pid} was killed by SIGKILL (as the kernel does when memory runs "
            "out); run the sweep again with tracking.skip_finished=true to retry"
        )
    missing = load_sweep(uri).missing  # the kill can land between two of its runs' openings
    assert sorted(c.info.status for c in children if c not in failed) == ["FINISHED"] * (
        12 - len(failed) - len(missing)
    )
    assert f"worker process {pid} was killed by SIGKILL" in stdout + stderr
    lost = len(failed) + len(missing)
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith(f"shallownet: error: {lost} of 12 jobs failed on an error, not in training: ")
    )
    result = run_cli(*SLOW, "tracking.skip_finished=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = load_sweep(uri)
    assert study.statuses == {"FINISHED": 12}


def test_a_store_deleted_mid_sweep_is_a_one_line_failure(tmp_path: Path) -> None:
    """rm mlflow.db while the sweep writes to it: the runs went with the file, and the
    sweep says so with exit 1 (it said "8 runs (8 FINISHED)" and exited 0)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with started(tmp_path, *SLOW) as proc:
        wait_under_way(proc, uri, 240)
        for path in tmp_path.glob("mlflow.db*"):
            path.unlink()
        _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"shallownet: error: the store {uri} was deleted or replaced while the sweep ran: "
        "the runs it recorded went with the file; run the sweep again"
    )


def test_a_server_that_stops_answering_is_given_up_in_one_line(tmp_path: Path) -> None:
    """The server's processes stopped (SIGSTOP: connections accepted, never answered)
    mid-sweep: the sweep gives up with one line and exit 1; once the server answers
    again, the next command ends the runs left RUNNING."""
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    with mlflow_server_group(tmp_path, backend) as (url, group):
        with started(tmp_path, *SLOW, f"tracking.uri={url}") as proc:
            wait_under_way(proc, backend, 240)
            os.killpg(group, signal.SIGSTOP)
            begun = time.monotonic()
            _, stderr = proc.communicate(timeout=600)
            print(f"given up after {time.monotonic() - begun:.0f} s")  # for the record
        os.killpg(group, signal.SIGCONT)
        assert proc.returncode == 1, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("shallownet: error: "), stderr
        assert "stopped answering" in last or "timed out" in last.lower(), last
        assert "Error executing job" not in stderr  # Hydra's own line for each job
        assert stderr.count("could not end ") <= 2  # once per worker, not once per run
        report = report_on(tmp_path, "--tracking-uri", url)
        assert report.returncode == 0, report.stderr
    assert_truthful(backend)


def faulty_sweep(folder: Path, workers: int, *axes: str) -> subprocess.CompletedProcess[str]:
    """A sweep over ``axes`` of 7-unit networks, with the plugins that break
    (tests/faulty_plugins.py), in ``workers`` processes."""
    return run_cli(
        "-m",
        *axes,
        "model.hidden=[7]",
        "train.iterations=200",
        "tracking.figures=false",
        f"hydra.launcher.n_jobs={workers}",
        cwd=folder,
        plugins=str(REPO / "tests" / "faulty_plugins.py"),
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_plugin_that_raises_while_the_network_is_built_fails_its_jobs_alone(
    workers: int, tmp_path: Path
) -> None:
    result = faulty_sweep(tmp_path, workers, "init=small,fragile", "seed=0,1")
    assert result.returncode == 1, result.stderr  # after the sweep's end, saying so
    assert result.stderr.strip().splitlines()[-1] == (
        "shallownet: error: 2 of 4 jobs failed on an error, not in training: "
        "init=fragile,seed=0,model.hidden=[7],train.iterations=200: RuntimeError: fragile "
        "initializer: cannot initialize a 7x2 layer (and 1 more); once it is fixed, run the "
        "sweep again with tracking.skip_finished=true to run the jobs that did not finish"
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    _, children = parents_and_children(uri)
    jobs = sorted((c.data.params["init"], c.data.params["seed"]) for c in children)
    assert jobs == [("fragile", "0"), ("fragile", "1"), ("small", "0"), ("small", "1")]
    for child in children:
        if child.data.params["init"] == "fragile":
            assert child.info.status == "FAILED"
            assert child.data.tags["failure_reason"] == (
                "RuntimeError: fragile initializer: cannot initialize a 7x2 layer"
            )
        else:
            assert child.info.status == "FINISHED"
    assert_truthful(uri)


@pytest.mark.parametrize("workers", [1, 2])
def test_sys_exit_or_keyboard_interrupt_in_plugin_code_fails_its_jobs_alone(
    workers: int, tmp_path: Path
) -> None:
    """``sys.exit(0)`` in an initializer and ``raise KeyboardInterrupt`` in an activation
    (no signal) are those plugins' faults: their jobs FAILED with the reason, the others
    FINISHED, the sweep goes on to its end."""
    # large: z past 5 at once, where the impatient activation raises
    result = faulty_sweep(tmp_path, workers, "init=large,quitter", "activation=tanh,impatient")
    assert result.returncode == 1, result.stderr  # never 0 for a sweep that lost jobs
    assert "shallownet: error: 3 of 4 jobs failed on an error" in result.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (parent,), children = parents_and_children(uri)
    assert parent.info.status == "FINISHED"
    outcome = {
        (c.data.params["init"], c.data.params["activation"]): (
            c.info.status,
            c.data.tags.get("failure_reason"),
        )
        for c in children
    }
    exit_ = ("FAILED", "PluginExit: plugin code raised SystemExit(0)")
    interrupt = (
        "FAILED",
        "PluginExit: plugin code raised KeyboardInterrupt (no signal was received)",
    )
    assert outcome == {
        ("large", "tanh"): ("FINISHED", None),
        ("quitter", "tanh"): exit_,
        ("large", "impatient"): interrupt,
        ("quitter", "impatient"): exit_,  # it is built first
    }
    assert_truthful(uri)


def test_sys_exit_at_a_plugin_modules_import_is_refused_in_one_line(tmp_path: Path) -> None:
    module = tmp_path / "leaving.py"
    module.write_text("import sys\n\nsys.exit(0)\n")
    result = run_cli("train.iterations=10", cwd=tmp_path, plugins=str(module))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"shallownet: error: SHALLOWNET_PLUGINS: plugin module {str(module)!r} failed to "
        "import (PluginExit: plugin code raised SystemExit(0)); fix it or remove it"
    )
    assert written(tmp_path) == ["leaving.py"]  # nothing written


def test_an_mlflow_server_stopped_mid_sweep(tmp_path: Path) -> None:
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    server = mlflow_server(tmp_path, backend)
    url = server.__enter__()
    running = True
    try:
        with started(tmp_path, *SLOW, f"tracking.uri={url}") as proc:
            wait_under_way(proc, backend, 240)
            server.__exit__(None, None, None)  # the server stops; the sweep must end
            running = False
            _, stderr = proc.communicate(timeout=900)
            assert proc.returncode == 1, stderr
            assert stderr.strip().splitlines()[-1].startswith("shallownet: error: "), stderr
    finally:
        if running:
            server.__exit__(None, None, None)
    with mlflow_server(tmp_path, backend) as url:  # back, on the same store
        report = report_on(tmp_path, "--tracking-uri", url)
        assert report.returncode == 0, report.stderr
        assert_truthful(url)


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (root only); skip where it cannot be."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_disk_that_fills_mid_sweep(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", "3m") as disk:
        result = run_cli(
            "-m", "seed=range(8)", "activation=tanh,relu", "train.iterations=2000", cwd=disk
        )
        assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("shallownet: error: "), result.stderr
        assert "disk is full" in lines[-1] or "No space left" in lines[-1]
        for noise in ("Traceback", "Logging error"):  # 482 lines of them came before it
            assert noise not in result.stderr, result.stderr[-3000:]
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        uri = f"sqlite:///{disk}/mlflow.db"
        report = report_on(disk)
        assert report.returncode == 0, report.stderr
        assert "incomplete: " in report.stdout
        assert_truthful(uri)


def test_a_parent_run_whose_first_artifact_cannot_be_written_ends_failed(tmp_path: Path) -> None:
    """The experiment's artifact folder is a file: the parent run, open, cannot record its
    jobs. It was left RUNNING after the command exited 1 (issue "Nothing lost, round
    four", a read-only mlartifacts/); it ends FAILED, saying why."""
    (tmp_path / "mlartifacts").mkdir()
    (tmp_path / "mlartifacts" / "shallownet").write_text("")
    result = run_cli("-m", "seed=0,1", "train.iterations=100", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"shallownet: error: cannot write '{tmp_path}/mlartifacts/shallownet/")
    )
    (parent,), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert children == []
    assert parent.info.status == "FAILED"
    assert parent.data.tags["failure_reason"].startswith("NotADirectoryError: ")


def test_a_search_whose_worker_is_killed_exits_1(tmp_path: Path) -> None:
    """kill -9 of a worker of an Optuna search: its trials FAIL saying so, the search goes
    on to its end and exits 1, as a sweep does (it exited 0: issue "Nothing lost, round
    four")."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search = (
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "train.learning_rate=interval(0.1,2.0)",
        "train.iterations=100000",
        "tracking.figures=false",
    )
    with started(tmp_path, *search) as proc:
        wait_for(lambda: children_by_status(uri)["RUNNING"] >= 1, 240, "a trial to start")
        _, pid = kill_a_worker(uri, proc.pid)
        _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1].endswith("once it is fixed, run the search again")
    assert f"worker process {pid} was killed by SIGKILL" in stderr.strip().splitlines()[-1]
    runs = assert_truthful(uri)
    parent = next(r for r in runs if r.data.tags.get("shallownet.role") == "sweep")
    assert parent.info.status == "FINISHED"
