"""A sweep's parent run: opened once its jobs are validated, ended with a true status.

The parent's id reaches the jobs through the ``SHALLOWNET_PARENT_RUN_ID``
environment variable, which every launcher passes on to its workers. Its
params are the sweep's axes as typed (``sweep.init = zeros,small,large``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from .. import __version__
from ..config import TrackingSettings
from ..task import PARENT_ENV
from .run import PARENT_TAG
from .store import prepare, retry, ui_command


def child_statuses(client: MlflowClient, experiment_id: str, parent_id: str) -> Counter[str]:
    """How many child runs of a parent ended in each status."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'", max_results=50_000
    )
    return Counter(run.info.status for run in runs)


def end_parent_run(uri: str, parent_id: str, status: str) -> Counter[str]:
    """Record the children's statuses on the parent run and end it.

    A child still RUNNING at this point belongs to a job that was stopped before it
    could end its run (an interrupt in a worker, say): it ends KILLED.
    """
    client = MlflowClient(uri)
    run = client.get_run(parent_id)
    running = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}' and attributes.status = 'RUNNING'",
        max_results=50_000,
    )
    for child in running:
        retry(client.set_terminated, child.info.run_id, "KILLED")
    counts = child_statuses(client, run.info.experiment_id, parent_id)
    for key, n in counts.items():
        retry(client.set_tag, parent_id, f"children_{key.lower()}", str(n))
    retry(client.set_terminated, parent_id, status)
    return counts


@contextmanager
def parent_run(
    tracking: TrackingSettings, name: str, axes: Mapping[str, str], tags: Mapping[str, str]
) -> Iterator[str]:
    """The sweep's parent run around its jobs: FINISHED, KILLED on an interrupt, else FAILED."""
    experiment_id = prepare(tracking)
    client = MlflowClient(tracking.uri)
    all_tags = {"shallownet.version": __version__, "shallownet.role": "sweep", **tags}
    run = retry(client.create_run, experiment_id, run_name=name[:250], tags=all_tags)
    run_id = str(run.info.run_id)
    params = [Param(f"sweep.{key}", typed[:6000]) for key, typed in axes.items()]
    if params:
        retry(client.log_batch, run_id, params=params)
    os.environ[PARENT_ENV] = run_id
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        os.environ.pop(PARENT_ENV, None)
        counts = end_parent_run(tracking.uri, run_id, status)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
        print(
            f"\nshallownet: {sum(counts.values())} runs ({summary}) under parent run {run_id} "
            f"({status}) in experiment {tracking.experiment!r} of {tracking.uri}\n"
            f"  compare: shallownet-report --tracking-uri {tracking.uri}\n"
            f"  browse:  {ui_command(tracking.uri)}",
            flush=True,
        )
