"""Which jobs of a sweep are done, or being done, elsewhere: the configurations that
FINISHED, for a resume (``tracking.skip_finished``), and claims, so that commands running
one sweep at once (two resumes, or a resume while the sweep itself runs) train each job
once.

Before a batch opens its runs, the command looks under the sweep's parent run for runs
of the batch's configurations that another command has: FINISHED, or RUNNING in a
process that still runs. Those jobs are skipped. A resume always looks; the sweep that
opened the parent run looks once another command has joined it (a resume takes the
parent run over, its owner tags first), so a sweep alone pays one read of its parent
per batch. On an SQLite store the look and the opening of the runs happen under a lock
on the store's folder, so two commands never both open one job; a server's store has
no such lock, and two commands that open one job within the same few milliseconds may
both train it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from ..processes import alive, descends_from
from ..settings import TrackingSettings
from ..vocabulary import CONFIG_HASH_TAG, HOST_TAG, PARENT_TAG, PROCESS_TAG
from .owner import host
from .runs import newest_finished, retry, search
from .store import prepare, sqlite_path


@contextmanager
def claiming(tracking: TrackingSettings) -> Iterator[None]:
    """Hold the store's claim lock (an SQLite store's folder lock) for the block."""
    prepare(tracking)  # the store exists first: its creation takes the same lock
    db = sqlite_path(tracking.uri)
    if db is None:
        yield
        return
    from .sqlite import locked

    with locked(db.parent):
        yield


def finished(tracking: TrackingSettings, config_hash: str) -> Run | None:
    """The newest FINISHED run of this configuration in the experiment, if any."""
    return newest_finished(MlflowClient(tracking.uri), prepare(tracking), config_hash)


def taken(tracking: TrackingSettings, parent_id: str, configs: Sequence[str]) -> dict[str, Run]:
    """The runs, by config hash, of these configurations under the parent run that another
    command has: FINISHED, or RUNNING in a live process (any host's but this one's is
    taken as live). Call it under :func:`claiming`, before opening the batch's runs."""
    wanted = set(configs)
    client = MlflowClient(tracking.uri)
    if not tracking.skip_finished and not _joined(retry(client.get_run, parent_id)):
        return {}
    where = f"tags.`{PARENT_TAG}` = '{parent_id}'"
    if len(wanted) == 1:  # one job (Hydra's own launchers): its configuration's runs only
        where += f" and tags.`{CONFIG_HASH_TAG}` = '{configs[0]}'"
    found: dict[str, Run] = {}
    for run in search(client, prepare(tracking), where):
        config = run.data.tags.get(CONFIG_HASH_TAG)
        if config in wanted and _held(run):
            found[str(config)] = run
    return found


def _joined(parent: Run) -> bool:
    """Whether another command took the parent run over: its owner is not this process
    nor one this process descends from (the command whose worker this is)."""
    if parent.data.tags.get(HOST_TAG) != host():
        return True
    process = str(parent.data.tags.get(PROCESS_TAG, ""))
    pid = process.partition(":")[0]
    return not (pid.isdigit() and alive(process) and descends_from(os.getpid(), int(pid)))


def _held(run: Run) -> bool:
    if run.info.status == "FINISHED":
        return True
    if run.info.status != "RUNNING":
        return False
    here = run.data.tags.get(HOST_TAG) == host()
    return not here or alive(str(run.data.tags.get(PROCESS_TAG, "")))


def owner(run: Run) -> str:
    """Who has a run, as a line says it: ``pid 4242 on vm``."""
    pid = str(run.data.tags.get(PROCESS_TAG, "?")).partition(":")[0]
    return f"pid {pid} on {run.data.tags.get(HOST_TAG, 'an unknown host')}"
