"""The cluster path on a real Slurm (two nodes, with accounting) and a real MLflow server
on PostgreSQL, all on this machine (tests/cluster.py): a sweep through
``hydra/launcher=submitit_slurm`` into the server, one into PostgreSQL directly, and what
each fault leaves in the store: nothing RUNNING, no run changed after its sweep ended."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from shallownet.processes import alive
from shallownet.slurm import ended as job_ended
from shallownet.vocabulary import HOST_TAG, PROCESS_TAG, REASON_TAG, SLURM_JOB_TAG

from .cli_helpers import run_cli, started, wait_for
from .cluster import Cluster, Postgres, cannot, postgres, slurm_cluster
from .servers import mlflow_server
from .store_helpers import artifact_paths, experiment_runs, parents_and_children

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("cluster"),  # one test process: one cluster, one database
    pytest.mark.skipif(cannot() is not None, reason=str(cannot())),
]

GRID = ("init=zeros,small,large", "activation=tanh,sigmoid", "seed=0,1")  # 12 jobs
# 2 array tasks of 6 networks, one per node (each takes both of a node's cores)
SLURM = (
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.cpus_per_task=2",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with slurm_cluster(tmp_path_factory.mktemp("slurm"), nodes=2) as running:
        yield running


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with postgres(tmp_path_factory.mktemp("postgres")) as running:
        yield running


@dataclass(frozen=True)
class Served:
    url: str  # the server's
    backend: str  # the database it runs on


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, database: Postgres) -> Iterator[Served]:
    """An ``mlflow server`` on PostgreSQL, proxying artifacts (``--artifacts-destination``)."""
    backend = database.database("mlflow")
    with mlflow_server(tmp_path_factory.mktemp("server"), backend=backend) as url:
        yield Served(url, backend)


@pytest.fixture
def server(served: Served) -> str:
    return served.url


@pytest.fixture
def slurm(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """The cluster, its commands reachable from the commands a test runs (SLURM_CONF)."""
    monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
    assert cluster.queued() == [], "a previous test left Slurm jobs queued"
    return cluster


def test_a_sweep_through_slurm_into_a_server_on_postgres(
    slurm: Cluster, server: str, tmp_path: Path
) -> None:
    result = run_cli(
        "-m", *GRID, *SLURM, "train.iterations=2000", f"tracking.uri={server}",
        "tracking.experiment=happy", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "View run" not in result.stdout  # MLflow's own lines: the sweep's say where to look
    (parent,), children = parents_and_children(server, "happy")
    assert parent.info.status == "FINISHED"
    assert sorted(run.info.status for run in children) == ["FINISHED"] * 12
    client = MlflowClient(server)
    drawn = 0
    for run in children:
        assert REASON_TAG not in run.data.tags
        assert "final_cost" in run.data.metrics
        files = artifact_paths(client, run.info.run_id)  # through the server's proxy
        assert "history.csv" in files
        drawn += "figures/cost_curve.png" in files
    assert drawn == 6  # the first seed of each configuration
    jobs = {run.data.tags[SLURM_JOB_TAG] for run in children}
    accounted = dict(slurm.jobs())
    assert len(jobs) == 2
    assert all(accounted[job] == "COMPLETED" for job in jobs)
    assert {run.data.tags[HOST_TAG] for run in children} == set(slurm.nodes)  # both nodes
    report = run_cli(
        "--tracking-uri", server, "--experiment", "happy", "--no-attach",
        "--out", str(tmp_path / "report"), cwd=tmp_path, command="shallownet-report",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "| zeros | tanh | 2 |" in report.stdout
    assert "left alone" not in report.stdout


def test_a_sweep_into_postgres_directly_and_a_servers_database_refused(
    database: Postgres, served: Served, tmp_path: Path
) -> None:
    """Two worker processes writing to PostgreSQL at once; and the database of a server
    that keeps artifacts itself (mlflow-artifacts:/) refused before anything is written."""
    direct = database.database("direct")
    result = run_cli(
        "-m", *GRID, "train.iterations=500", "hydra.launcher.n_jobs=2", f"tracking.uri={direct}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (parent,), children = parents_and_children(direct)
    assert parent.info.status == "FINISHED"
    assert sorted(run.info.status for run in children) == ["FINISHED"] * 12

    made = MlflowClient(served.url).create_experiment("served")  # its artifacts: the server's
    refused = run_cli(
        "-m", "init=zeros,small", "train.iterations=10", f"tracking.uri={served.backend}",
        "tracking.experiment=served", cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"shallownet: error: tracking.uri={served.backend!r} is invalid for "
        "tracking.experiment='served': its artifacts are kept through an MLflow server "
        f"(mlflow-artifacts:/{made}), which only that server can reach; set tracking.uri to "
        "the server's http:// address"
    )
    assert experiment_runs(served.url, "served") == []  # nothing written


@pytest.mark.parametrize("fault", ["sigterm", "scancel", "time_limit"])
def test_a_stopped_cluster_sweep_cancels_its_jobs_and_stays_as_it_ended(
    fault: str, slurm: Cluster, server: str, tmp_path: Path
) -> None:
    """The sweep stopped (SIGTERM), one array task cancelled, or Slurm's time limit: every
    job of the sweep leaves the queue before its parent run ends; no run is RUNNING, none
    FINISHED with a reason, each reason says what happened; once every process that wrote
    a run has ended, nothing changed."""
    experiment = f"fault-{fault}"
    # Hydra's launcher asks for Slurm's warning 120 s before the limit (signal_delay_s), and
    # Slurm may send it up to 60 s earlier still: with the defaults it came as the jobs
    # started, racing the opening of their runs (CI once saw 12 RUNNING never reached).
    # Here it comes 100 s after the start, at the earliest 40 s.
    limited = ("hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=20")
    limit = limited if fault == "time_limit" else ()
    with started(
        tmp_path, "-m", *GRID, *SLURM, *limit, "train.iterations=3000000",
        f"tracking.uri={server}", f"tracking.experiment={experiment}",
    ) as proc:  # fmt: skip
        wait_for(lambda: running(server, experiment) == 12, 180, "12 runs RUNNING")
        jobs = sorted({run.data.tags[SLURM_JOB_TAG] for run in children_of(server, experiment)})
        if fault == "sigterm":
            os.killpg(proc.pid, signal.SIGTERM)
        elif fault == "scancel":
            slurm.run("scancel", jobs[0])
        _, err = proc.communicate(timeout=300)
    assert not set(slurm.queued()) & set(jobs)  # every job of the sweep has left the queue
    ended = dict(slurm.jobs())
    runs = truthful(server, experiment)
    parent = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    children = [run for run in runs if run is not parent]
    reasons = Counter(run.data.tags[REASON_TAG] for run in children)
    if fault == "sigterm":
        assert proc.returncode == 128 + signal.SIGTERM
        assert parent.info.status == "KILLED"
        assert parent.data.tags[REASON_TAG] == "interrupted by SIGTERM"
        assert all(ended[job].startswith("CANCELLED") for job in jobs)
    elif fault == "scancel":
        assert proc.returncode == 1, err
        assert parent.info.status == "FAILED"
        assert parent.data.tags[REASON_TAG].startswith(
            f"SlurmJobEnded: Slurm job {jobs[0]} ended (CANCELLED by 0) without its result"
        )
        assert f"Slurm job {jobs[0]} ended (CANCELLED by 0)" in err
    else:
        assert parent.info.status == "FAILED"
        assert reasons == {  # the time limit, not a fault of training: no retry one by one
            f"Slurm job {job} reached its time limit (its warning signal, SIGUSR2)": 6
            for job in jobs
        }
    assert {run.info.status for run in children} == {"KILLED"}
    for run in children:  # each says its own job, or the sweep's reason
        said = run.data.tags[REASON_TAG]
        assert run.data.tags[SLURM_JOB_TAG] in said or parent.data.tags[REASON_TAG] in said
    statuses = Counter(run.info.status for run in children)
    for status in ("FINISHED", "FAILED", "KILLED"):  # the parent's counts are its children's
        assert parent.data.tags[f"children_{status.lower()}"] == str(statuses[status])
    # the nodes are this machine: the pid each run's writer recorded names its process
    writers = {run.data.tags[PROCESS_TAG] for run in runs}
    wait_for(lambda: not any(map(alive, writers)), 60, "every process that wrote a run to end")
    assert snapshot(truthful(server, experiment)) == snapshot(runs)  # nothing flipped


def test_without_accounting_a_cancelled_task_stops_the_sweep_at_once(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Slurm's accounting (no slurmdbd: ``sacct`` fails), ``scancel`` of one task
    is seen in the queue: the sweep stops within seconds, saying so, instead of waiting
    forever for a result; the other task is cancelled; nothing RUNNING."""
    with slurm_cluster(tmp_path, nodes=1, accounting=False) as bare:
        monkeypatch.setenv("SLURM_CONF", bare.env["SLURM_CONF"])
        experiment = "no-accounting"
        with started(
            tmp_path, "-m", *GRID, *SLURM[:2], "train.iterations=3000000",
            f"tracking.uri={server}", f"tracking.experiment={experiment}",
        ) as proc:  # fmt: skip
            wait_for(lambda: running(server, experiment) == 12, 180, "12 runs RUNNING")
            jobs = sorted(
                {run.data.tags[SLURM_JOB_TAG] for run in children_of(server, experiment)}
            )
            bare.run("scancel", jobs[0])
            cancelled = time.monotonic()
            _, err = proc.communicate(timeout=300)
            took = time.monotonic() - cancelled
        assert bare.queued() == []
    assert proc.returncode == 1, err
    assert took < 60  # the queue's every second, the result file's 10 s, the others' end
    said = f"Slurm job {jobs[0]} ended (no longer queued; sacct cannot say how) without its result"
    assert said in err
    runs = truthful(server, experiment)
    assert {run.info.status for run in runs} == {"FAILED", "KILLED"}  # the parent FAILED


def test_runs_of_a_killed_sweep_are_ended_from_any_host_by_their_slurm_job(
    slurm: Cluster, server: str, tmp_path: Path
) -> None:
    """``kill -9`` of the sweep, then its jobs killed too (nothing can end its runs): the
    next report, on this host, ends every run by its Slurm job's end, those of ``node1``
    included, and says which RUNNING run of another host (one without a Slurm job) it
    left alone."""
    experiment = "kill9"
    with started(
        tmp_path, "-m", *GRID, *SLURM, "train.iterations=3000000", f"tracking.uri={server}",
        f"tracking.experiment={experiment}",
    ) as proc:  # fmt: skip
        wait_for(lambda: running(server, experiment) == 12, 180, "12 runs RUNNING")
        os.kill(proc.pid, signal.SIGKILL)  # the sweep alone: its jobs run on
        proc.communicate(timeout=60)
    children = children_of(server, experiment)
    jobs = sorted({run.data.tags[SLURM_JOB_TAG] for run in children})
    # each job's process, by the pid its runs recorded (both nodes share this machine's
    # pids), killed as the kernel's OOM killer would: no job can end its runs
    for pid in {int(run.data.tags[PROCESS_TAG].partition(":")[0]) for run in children}:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not set(slurm.queued()) & set(jobs), 120, "the jobs to leave the queue")
    wait_for(lambda: all(job_ended(s) for job, s in slurm.jobs() if job in jobs), 60, "sacct")
    assert running(server, experiment) == 12  # what they leave, until the next command
    client = MlflowClient(server)
    other = client.get_experiment_by_name(experiment)
    assert other is not None
    elsewhere = client.create_run(  # a run of a host without Slurm: nothing here can end it
        other.experiment_id, tags={HOST_TAG: "laptop", PROCESS_TAG: "1:1"}
    )
    report = run_cli(
        "--tracking-uri", server, "--experiment", experiment, "--no-attach",
        "--out", str(tmp_path / "report"), cwd=tmp_path, command="shallownet-report",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    ended = dict(slurm.jobs())
    children = children_of(server, experiment)
    assert {run.data.tags[HOST_TAG] for run in children} == set(slurm.nodes)
    for run in children:
        job = run.data.tags[SLURM_JOB_TAG]
        assert run.info.status in ("KILLED", "FAILED")
        assert (
            run.data.tags[REASON_TAG]
            == f"Slurm job {job} ended ({ended[job]}) before this run did"
        )
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"
    assert "left alone: 1 RUNNING run(s) of the experiment on other hosts (laptop: 1)" in (
        report.stdout
    )
    client.set_terminated(elsewhere.info.run_id, "KILLED")


def children_of(uri: str, experiment: str) -> list[Run]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], max_results=1000)
    return [run for run in runs if "mlflow.parentRunId" in run.data.tags]


def running(uri: str, experiment: str) -> int:
    return sum(run.info.status == "RUNNING" for run in children_of(uri, experiment))


def truthful(uri: str, experiment: str) -> list[Run]:
    """The experiment's runs: none RUNNING; a FINISHED one without a reason, every other
    with one."""
    runs = experiment_runs(uri, experiment)
    for run in runs:
        assert run.info.status != "RUNNING", run.info.run_name
        assert (REASON_TAG in run.data.tags) == (run.info.status != "FINISHED"), run.data.tags
    return runs


def snapshot(runs: list[Run]) -> list[tuple[str, str, str | None]]:
    return sorted((r.info.run_id, r.info.status, r.data.tags.get(REASON_TAG)) for r in runs)
