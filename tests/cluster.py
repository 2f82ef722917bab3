"""A real Slurm cluster and a real PostgreSQL on this machine, for the cluster tests.

    with slurm_cluster(folder) as cluster:   # munged, MariaDB, slurmdbd, slurmctld, slurmd
        cluster.env                          # SLURM_CONF for sbatch, squeue, sacct, scancel
    with postgres(folder) as server:         # PostgreSQL 15
        server.database("mlflow")            # postgresql+psycopg2://postgres@127.0.0.1:PORT/mlflow

Debian's packages (``slurm-wlm``, ``slurmdbd``, ``mariadb-server``, ``munge``,
``postgresql``), run as root without systemd: every daemon in the foreground, in its own
process group, on 127.0.0.1 only, its PID recorded, stopped by that PID (its group)
whatever happens. Slurm keeps accounting in MariaDB through slurmdbd, so ``sacct``
tells how a job ended. ``nodes=2`` adds a second compute node, ``node1``, in a UTS
namespace of its own (``unshare --uts``): its runs carry another host name, as on a
real cluster. Bring-up takes about 20 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sacctmgr")
# Debian's PostgreSQL, newest version first (Debian 12: 15)
POSTGRES_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path())
CLUSTER = "shallownet"
PARTITION = "debug"


def cannot() -> str | None:
    """Why this machine cannot run the cluster tests at all (None: it can): they start
    daemons as root, installed with apt (``.ci/run`` installs them)."""
    if os.geteuid() != 0:
        return "the cluster tests start Slurm's daemons as root"
    if shutil.which("apt-get") is None:
        return "the cluster tests need Debian's packages (apt-get)"
    return None


def check_installed() -> None:
    """Fail, saying what to install, where a package the cluster tests need is missing."""
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if not (POSTGRES_BIN / "postgres").exists():
        absent.append("postgres")
    if absent:
        msg = (
            f"not installed: {', '.join(absent)}; apt-get install slurm-wlm slurmdbd "
            "mariadb-server munge postgresql (as .ci/run does)"
        )
        raise RuntimeError(msg)
    if socket.gethostbyname(socket.gethostname()).split(".")[0] != "127":
        msg = f"this host's name ({socket.gethostname()}) must resolve to 127.x for Slurm"
        raise RuntimeError(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemons:
    """The processes started, each in its own process group, stopped in reverse order."""

    folder: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        proc: subprocess.Popen[bytes] = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        log.close()
        (self.folder / f"{name}.pid").write_text(str(proc.pid))
        self.started.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                tail = (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]
                msg = f"{name} exited ({proc.returncode}):\n{tail}"
                raise RuntimeError(msg)

    def stop(self) -> None:
        """SIGTERM each process group (SIGINT for PostgreSQL: its fast shutdown), latest
        first; SIGKILL what is left of a group after 20 s."""
        for name, proc in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        for _name, proc in reversed(self.started):
            deadline = time.monotonic() + 20
            while _group_alive(proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        self.started.clear()


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether any process of ``proc``'s group is left (the leader collected when it ends)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(what: str, ready: Callable[[], bool], daemons: Daemons, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        daemons.check()
        if time.monotonic() > deadline:
            msg = f"{what} was not ready within {seconds:.0f} s (logs in {daemons.folder})"
            raise RuntimeError(msg)
        time.sleep(0.3)


def _answers(argv: list[str], env: dict[str, str] | None = None) -> bool:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=30)
    return done.returncode == 0


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]  # the environment Slurm's commands need (SLURM_CONF)
    nodes: list[str]

    def run(self, *argv: str) -> str:
        """A Slurm command's output (``squeue``, ``sacct``, ``scancel``)."""
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, check=False)
        if done.returncode:
            msg = f"{' '.join(argv)} failed: {done.stderr.strip()}"
            raise RuntimeError(msg)
        return done.stdout

    def jobs(self) -> list[tuple[str, str]]:
        """Every job's (id, state) in accounting: ``("9_0", "COMPLETED")``."""
        out = self.run("sacct", "-X", "-n", "-P", "-a", "-o", "JobID,State")
        return [tuple(line.split("|")[:2]) for line in out.splitlines() if line]  # type: ignore[misc]

    def queued(self) -> list[str]:
        """The ids of the jobs pending or running."""
        return self.run("squeue", "-h", "-o", "%i").split()


@contextlib.contextmanager
def slurm_cluster(folder: Path, nodes: int = 1, accounting: bool = True) -> Iterator[Cluster]:
    """Munge, MariaDB and slurmdbd (with ``accounting``), slurmctld and ``nodes`` slurmd
    (this host's name, then ``node1``), all on 127.0.0.1; yields the :class:`Cluster`;
    stops them all."""
    check_installed()
    # munged refuses a socket folder that not everyone can search (a mkdtemp one is 0700)
    run_dir = Path(tempfile.mkdtemp(prefix="sn-slurm-", dir="/tmp"))
    run_dir.chmod(0o755)
    daemons = Daemons(run_dir)
    try:
        yield _bring_up(run_dir, daemons, nodes, accounting)
    finally:
        daemons.stop()
        for log in run_dir.glob("*.log"):  # kept with the test's files, for a failure
            with contextlib.suppress(OSError):
                shutil.copy(log, folder / f"cluster-{log.name}")
        shutil.rmtree(run_dir, ignore_errors=True)


def _munge(run: Path, daemons: Daemons) -> Path:
    """munged with a key of its own; its socket."""
    socket_path = run / "munge.socket"
    key = run / "munge.key"
    subprocess.run(
        ["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True
    )
    key.chmod(0o600)
    daemons.start(
        "munged",
        [
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={run / 'munged.pidfile'}",
            f"--log-file={run / 'munged.daemon.log'}",
            f"--seed-file={run / 'munge.seed'}",
        ],
    )
    wait_for("munged", socket_path.exists, daemons)
    return socket_path


def _mariadb(run: Path, daemons: Daemons) -> int:
    """MariaDB with a ``slurm`` user for slurmdbd; its port."""
    port, data, db_socket = free_port(), run / "mariadb", run / "mariadb.socket"
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    daemons.start(
        "mariadbd",
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={db_socket}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            f"--pid-file={run / 'mariadbd.pidfile'}",
        ],
    )
    client = ["mariadb", "--no-defaults", f"--socket={db_socket}", "-u", "root"]
    wait_for("MariaDB", lambda: _answers([*client, "-e", "select 1"]), daemons)
    grant = (
        "create user 'slurm'@'127.0.0.1' identified by 'slurm';"
        "grant all on slurm_acct_db.* to 'slurm'@'127.0.0.1';"
    )
    subprocess.run([*client, "-e", grant], check=True, capture_output=True)
    return port


def _slurmdbd_conf(run: Path, munge_socket: Path, db_port: int) -> list[str]:
    """slurmdbd's config, written beside slurm.conf; the lines slurm.conf needs for it."""
    dbd_port = free_port()
    dbd_conf = run / "slurmdbd.conf"
    dbd_conf.write_text(
        "\n".join(
            [
                f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}",
                "CommunicationParameters=NoInAddrAny",
                f"DbdHost={socket.gethostname()}\nDbdAddr=127.0.0.1\nDbdPort={dbd_port}",
                "SlurmUser=root",
                f"PidFile={run / 'slurmdbd.pidfile'}",
                f"LogFile={run / 'slurmdbd.daemon.log'}",
                "StorageType=accounting_storage/mysql",
                f"StorageHost=127.0.0.1\nStoragePort={db_port}",
                "StorageUser=slurm\nStoragePass=slurm\nStorageLoc=slurm_acct_db",
                "",
            ]
        )
    )
    dbd_conf.chmod(0o600)  # slurmdbd refuses a config others can read
    return [
        "AccountingStorageType=accounting_storage/slurmdbd",
        f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={dbd_port}",
        f"AccountingStoragePass={munge_socket}",
    ]


def _bring_up(run: Path, daemons: Daemons, nodes: int, accounting: bool) -> Cluster:
    host = socket.gethostname()
    names = [host, *(f"node{n}" for n in range(1, nodes))]
    munge_socket = _munge(run, daemons)
    storage = ["AccountingStorageType=accounting_storage/none"]
    if accounting:
        storage = _slurmdbd_conf(run, munge_socket, _mariadb(run, daemons))
    ctld_port, slurmd_port = free_port(), free_port()
    node_lines = [
        f"NodeName={name} NodeAddr=127.0.0.1 Port={slurmd_port + n} CPUs=2 State=UNKNOWN"
        for n, name in enumerate(names)
    ]
    conf = run / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                f"ClusterName={CLUSTER}",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}",
                "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
                "SlurmUser=root\nSlurmdUser=root",
                f"StateSaveLocation={run / 'state'}",
                f"SlurmdSpoolDir={run / 'spool-%n'}",
                f"SlurmctldPidFile={run / 'slurmctld.pidfile'}",
                f"SlurmdPidFile={run / 'slurmd-%n.pidfile'}",
                f"SlurmctldLogFile={run / 'slurmctld.daemon.log'}",
                f"SlurmdLogFile={run / 'slurmd-%n.daemon.log'}",
                "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none",
                "MpiDefault=none\nReturnToService=2",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core",
                *storage,
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "KillWait=5\nMinJobAge=10",
                *node_lines,
                f"PartitionName={PARTITION} Nodes={','.join(names)} Default=YES "
                "MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    (run / "state").mkdir()
    env = {**os.environ, "SLURM_CONF": str(conf)}
    if accounting:
        daemons.start("slurmdbd", ["slurmdbd", "-D"], env=env)
        listed = ["sacctmgr", "-n", "list", "cluster"]
        wait_for("slurmdbd", lambda: _answers(listed, env), daemons)
        add = ["sacctmgr", "-i", "add", "cluster", CLUSTER]
        subprocess.run(add, env=env, check=True, capture_output=True)
    daemons.start("slurmctld", ["slurmctld", "-D", "-i"], env=env)
    wait_for("slurmctld", lambda: _answers(["scontrol", "ping"], env), daemons)
    for n, name in enumerate(names):
        (run / f"spool-{name}").mkdir()
        argv = ["slurmd", "-D", "-N", name]
        if n:  # another host: its own host name (UTS namespace), which resolves (hosts file)
            hosts = run / f"hosts-{name}"
            hosts.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {name}\n")
            inside = f"mount --bind {hosts} /etc/hosts && hostname {name} && exec {' '.join(argv)}"
            argv = ["unshare", "--uts", "--mount", "sh", "-c", inside]
        daemons.start(f"slurmd-{name}", argv, env=env)

    def idle() -> bool:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        ).stdout.split("\n")
        states = dict(line.split() for line in out if line.strip())
        return all(states.get(name) == "idle" for name in names)

    wait_for("the Slurm nodes", idle, daemons, seconds=90)
    return Cluster(run, env, names)


@dataclass
class Postgres:
    port: int

    def database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URI (psycopg2's driver, named)."""
        psql = [
            str(POSTGRES_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-q",
        ]
        subprocess.run([*psql, "-c", f"create database {name}"], check=True, capture_output=True)
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[Postgres]:
    """A PostgreSQL server on a free 127.0.0.1 port, run as the ``postgres`` user (who may
    connect without a password from here); yields it, to create databases on."""
    check_installed()
    run = Path(tempfile.mkdtemp(prefix="sn-postgres-", dir="/tmp"))
    run.chmod(0o755)
    shutil.chown(run, "postgres", "postgres")
    daemons = Daemons(run)
    data, port = run / "data", free_port()
    as_postgres = {"user": "postgres", "group": "postgres"}
    try:
        subprocess.run(
            [str(POSTGRES_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            **as_postgres,  # type: ignore[call-overload]
        )
        daemons.start(
            "postgres",
            [
                str(POSTGRES_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
                str(run),
            ],
            **as_postgres,
        )
        psql = [
            str(POSTGRES_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-q",
        ]
        wait_for("PostgreSQL", lambda: _answers([*psql, "-c", "select 1"]), daemons)
        yield Postgres(port)
    finally:
        daemons.stop()
        with contextlib.suppress(OSError):
            shutil.copy(run / "postgres.log", folder / "postgres.log")
        shutil.rmtree(run, ignore_errors=True)
