"""A sweep's parent run: opened once its jobs are validated, ended with a true status.

The parent's id reaches the jobs in their records (``Job.in_sweep``: the sweep
sets it, with the view's grouping, once the parent exists). Its params are the
sweep's axes as typed (``sweep.init = zeros,small,large``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlflow.entities import Param, Run, RunTag
from mlflow.tracking import MlflowClient

from .. import interrupts
from ..commands import executable
from ..errors import StoreFailed
from ..job import Job
from ..settings import TrackingSettings
from ..train import diverged
from ..version import __version__
from ..vocabulary import (
    CHILDREN_TAG,
    CONFIG_HASH_TAG,
    JOB_NUM_TAG,
    JOBS_ARTIFACT,
    OVERRIDES_TAG,
    PARENT_TAG,
    REASON_TAG,
    ROLE_TAG,
    SEARCH_TAG,
    SHARE_TAG_PREFIX,
    SWEEP_DIR_TAG,
    SWEEP_HASH_TAG,
    SWEEP_ROLE,
    VERSION_TAG,
)
from . import view
from .mlflow_internals import lists_named_views
from .owner import end_vanished, of_another_command, owner_tags
from .runs import (
    end_run,
    newest_finished,
    newest_per_config,
    note_unreachable,
    retry,
    search,
)
from .store import (
    UI_PORT,
    file_identity,
    prepare,
    served,
    ui_command,
    ui_port,
    ui_version,
)

log = logging.getLogger("shallownet")

# The end-of-sweep report, given by the layer above: (uri, experiment, parent id, figures)
# the end-of-sweep report: writes and attaches it; returns a line to print (a search's best)
Report = Callable[[str, str, str, bool], str | None]
Links = Callable[[int], list[str]]  # the addresses that open the sweep in the UI on a port


def sweep_hash(jobs: Sequence[Job]) -> str:
    """Identifies a sweep by the configurations of its jobs (to resume it)."""
    blob = json.dumps(sorted(job.settings.config_hash() for job in jobs)).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def latest_children(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Run]:
    """The newest child run of each configuration (a resumed job's earlier runs are left out)."""
    runs = search(client, experiment_id, f"tags.`{PARENT_TAG}` = '{parent_id}'", newest_first=True)
    return list(newest_per_config(runs).values())


def lost(children: Sequence[Run]) -> list[str]:
    """The children a sweep lost, each as ``run name: reason``: KILLED, or FAILED on an
    error (plugin code that raised, a worker that died, a record that could not be
    written), not in training (a divergence is what the study found); in the sweep's order."""
    found = []
    for run in sorted(children, key=lambda run: int(run.data.tags.get(JOB_NUM_TAG, 0))):
        reason = str(run.data.tags.get(REASON_TAG, ""))
        if run.info.status == "KILLED" or (run.info.status == "FAILED" and not diverged(reason)):
            found.append(f"{run.info.run_name}: {reason}")
    return found


def never_started(
    client: MlflowClient, experiment_id: str, jobs: Sequence[Job], children: Sequence[Run]
) -> list[str]:
    """The planned jobs that have no run, each as ``label: never started`` (their batch
    stopped before it opened their runs: its worker process died); a job skipped as
    FINISHED in an earlier sweep is not one."""
    have = {run.data.tags.get(CONFIG_HASH_TAG) for run in children}
    return [
        f"{job.label}: never started (its batch stopped before it opened the job's run)"
        for job in jobs
        if (key := job.settings.config_hash()) not in have
        and newest_finished(client, experiment_id, key) is None
    ]


def end_parent_run(
    uri: str,
    parent_id: str,
    status: str,
    reason: str | None = None,
    before_end: Callable[[], None] | None = None,
) -> list[Run]:
    """Record the children's statuses on the parent run, call ``before_end`` (the
    report), and end it; return its children (the newest run of each configuration).

    A child still RUNNING at this point belongs to a job that was stopped before it
    could end its run: a worker that died ends KILLED as vanished, one interrupted
    with the sweep ends KILLED with the sweep's reason; one that another live command
    trains (a resume of this sweep, started while it ran) is left to it.
    """
    client = MlflowClient(uri)
    run = retry(client.get_run, parent_id)  # fails at once where the server stopped answering
    experiment_id = run.info.experiment_id
    if status != "KILLED":  # a worker that died (not one the interrupt stopped)
        end_vanished(client, experiment_id)
    where = f"tags.`{PARENT_TAG}` = '{parent_id}' and attributes.status = 'RUNNING'"
    why = f"{reason or status}: the sweep stopped before this run ended"
    for child in search(client, experiment_id, where):
        if not of_another_command(child):  # a resume of this sweep still trains that one
            end_run(client, child.info.run_id, "KILLED", why)
    children = latest_children(client, experiment_id, parent_id)
    counts = Counter(run.info.status for run in children)
    statuses = dict.fromkeys(("FINISHED", "FAILED", "KILLED"), 0) | counts  # 0s replace
    tags = [RunTag(CHILDREN_TAG.format(key.lower()), str(n)) for key, n in statuses.items()]
    if reason:
        tags.append(RunTag(REASON_TAG, reason))
    retry(client.log_batch, parent_id, tags=tags)
    if before_end is not None:
        try:
            before_end()
        except Exception as exc:  # the sweep's runs are recorded: a report is a bonus
            log.warning("shallownet: could not attach the sweep's report: %s", exc)
    retry(client.set_terminated, parent_id, status)
    return children


def _resumable(client: MlflowClient, experiment_id: str, key: str) -> str | None:
    """The newest parent run of an earlier sweep of exactly these jobs, if any."""
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = '{SWEEP_ROLE}' and tags.`{SWEEP_HASH_TAG}` = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def _open_parent(
    client: MlflowClient,
    experiment_id: str,
    tracking: TrackingSettings,
    name: str,
    tags: Mapping[str, str],
    jobs: Sequence[Job],
) -> tuple[str, bool]:
    """The parent run, and whether it is new: the earlier one of these jobs when resuming,
    else a new one (which :func:`_record_plan` describes, once its end is assured)."""
    key = sweep_hash(jobs)
    if tracking.skip_finished and (earlier := _resumable(client, experiment_id, key)):
        retry(client.update_run, earlier, status="RUNNING")
        owner = [RunTag(k, v) for k, v in owner_tags().items()]
        retry(client.log_batch, earlier, tags=owner)
        if REASON_TAG in client.get_run(earlier).data.tags:
            retry(client.delete_tag, earlier, REASON_TAG)
        log.info("shallownet: resuming the sweep of parent run %s", earlier)
        return earlier, False
    all_tags = {
        VERSION_TAG: __version__,
        ROLE_TAG: SWEEP_ROLE,
        SWEEP_HASH_TAG: key,
        **owner_tags(),
        **tags,
    }
    run = retry(client.create_run, experiment_id, run_name=name[:250], tags=all_tags)
    return str(run.info.run_id), True


def _record_plan(
    client: MlflowClient,
    run_id: str,
    axes: Mapping[str, str],
    jobs: Sequence[Job],
    planned: bool,
) -> None:
    """What a new parent run records of its sweep: the axes as typed (params) and, for a
    planned sweep, its jobs (an artifact; a search draws its trials as it goes)."""
    params = [Param(f"sweep.{axis}", typed[:6000]) for axis, typed in axes.items()]
    if params:
        retry(client.log_batch, run_id, params=params)
    if planned:
        known = [
            {"num": job.num, "label": job.label, "config_hash": job.settings.config_hash()}
            for job in jobs
        ]
        retry(client.log_dict, run_id, known, JOBS_ARTIFACT)


@dataclass
class ParentRun:
    """What the jobs of a sweep need of its parent run (its id, and how the sweep's view
    groups its runs), and, once it has ended, its status, the lines printed about it
    (``compare:``, ``serve:``, ``open:``) and the children it lost."""

    run_id: str
    group: view.Grouping
    status: str = "RUNNING"
    summary: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # its children that :func:`lost` names

    def adopt(self, job: Job, figures: bool) -> Job:
        """``job`` as the sweep runs it: under this parent run, in its group of the view
        (named here, once for every launcher), drawing its figures or not."""
        label = self.group.label(job.settings.record)
        return job.in_sweep(self.run_id, self.group.tag, label, figures)


@contextmanager
def parent_run(
    tracking: TrackingSettings,
    name: str,
    axes: Mapping[str, str],
    sweep_dir: str,
    jobs: Sequence[Job],
    group_keys: Sequence[str] = (),
    report: Report | None = None,
    search: str | None = None,
    planned: bool = True,
) -> Iterator[ParentRun]:
    """The sweep's parent run around its jobs: FINISHED, KILLED on an interrupt (or a
    signal), else FAILED with the reason. Yields what each job needs of it
    (:class:`ParentRun`: the view groups its runs by ``group_keys``). ``report`` is
    called before the parent ends (not after an interrupt, when the user is waiting for
    the command to stop: ``shallownet-report`` makes it then)."""
    experiment_id = prepare(tracking)  # first: it creates the store safely
    client = MlflowClient(tracking.uri)
    store = file_identity(tracking.uri)
    tags = {SWEEP_DIR_TAG: sweep_dir}
    if search is not None:  # another sweeper's search: what it is, on the parent
        tags[SEARCH_TAG] = search
    run_id, new = _open_parent(client, experiment_id, tracking, name, tags, jobs)
    records = [job.settings.record for job in jobs]
    views = served(tracking.uri) or view.supported()
    group = view.grouping(group_keys, records, split=views, complete=planned)
    parts = view.views(group, records)

    def page(port: int) -> list[str]:  # until the view is saved
        return [view.experiment_page(tracking.uri, experiment_id, port)]

    links: Links = page
    status, reason = "FAILED", None
    parent: ParentRun | None = None
    try:
        if new:  # in the try: a store that cannot take it ends the parent FAILED, saying why
            _record_plan(client, run_id, axes, jobs, planned)
        try:
            links = _save_views(client, tracking, experiment_id, run_id, group, parts, jobs, name)
        except Exception as exc:  # the view is a convenience: the sweep goes on without it
            log.warning("shallownet: could not save the sweep's view in MLflow: %s", exc)
        parent = ParentRun(run_id, group)
        yield parent
        status = "FINISHED"
    except KeyboardInterrupt as exc:
        status, reason = "KILLED", interrupts.reason(exc)
        raise
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        note_unreachable(exc)  # a worker found the server gone: do not wait on it again
        raise
    finally:
        with interrupts.deferred():  # a signal now is raised once the parent has ended
            if file_identity(tracking.uri) != store:
                _store_lost(tracking, stopping=status != "FINISHED")
            else:
                ended = _end(tracking, run_id, status, reason, report)
                if ended is not None:
                    children, found = ended
                    counts = Counter(run.info.status for run in children)
                    lines = _summary(tracking, run_id, status, counts, links, group, parts)
                    lines[1:1] = [_aligned(line) for line in found]
                    print("\n" + "\n".join(lines), flush=True)
                    if parent is not None:
                        parent.status, parent.summary = status, lines
                        parent.lost = lost(children)
                        if planned and status == "FINISHED":
                            parent.lost += never_started(client, experiment_id, jobs, children)


def _end(
    tracking: TrackingSettings,
    run_id: str,
    status: str,
    reason: str | None,
    report: Report | None,
) -> tuple[list[Run], list[str]] | None:
    """End the parent run (its report first, unless KILLED); its children and the
    report's line to print, or None where the store could not take it."""
    found: list[str] = []  # what the report says to print
    attach = None
    if report is not None and status != "KILLED":
        uri, experiment = tracking.uri, tracking.experiment

        def attach() -> None:
            log.info("shallownet: writing the sweep's report (tables, figures) ...")
            if (line := report(uri, experiment, run_id, tracking.figures)) is not None:
                found.append(line)

    try:
        children = end_parent_run(tracking.uri, run_id, status, reason, attach)
    except Exception as exc:  # the store broke (full disk, server gone)
        _cannot_end(tracking, exc, stopping=status != "FINISHED")
        return None
    return children, found


def _aligned(line: str) -> str:
    """``best: ...`` as the sweep's last lines are laid out (``  best:    ...``)."""
    label, _, rest = line.partition(": ")
    return f"  {label + ':':<9}{rest}"


def record_refused(
    tracking: TrackingSettings, parent_id: str, overrides: Sequence[str], num: int, reason: str
) -> str:
    """A job refused before it could start (a trial another sweeper drew with a value that
    fails validation): a FAILED run under the parent, with the reason; its id."""
    client = MlflowClient(tracking.uri)
    experiment_id = client.get_run(parent_id).info.experiment_id
    tags = {
        PARENT_TAG: parent_id,
        OVERRIDES_TAG: ",".join(overrides),
        JOB_NUM_TAG: str(num),
        REASON_TAG: reason[:5000],
    }
    run = retry(client.create_run, experiment_id, run_name=",".join(overrides)[:250], tags=tags)
    retry(client.set_terminated, run.info.run_id, "FAILED")
    return str(run.info.run_id)


def _save_views(
    client: MlflowClient,
    tracking: TrackingSettings,
    experiment_id: str,
    run_id: str,
    group: view.Grouping,
    parts: Sequence[Mapping[str, str]],
    jobs: Sequence[Job],
    name: str = "",
) -> Links:
    """Save the sweep's views on the experiment (under the sweep's ``name`` where the UI's
    Views menu lists views by name); return what opens them on a port (or, where the
    installed MLflow's UI has no saved views, a plain link and why)."""
    if not served(tracking.uri) and not view.supported():
        why = f"(this MLflow's UI has no saved views: group by '{group.tag}' there)"
        return lambda port: [f"{view.experiment_page(tracking.uri, experiment_id, port)}  {why}"]
    layers = max(len(job.settings.hidden) + 1 for job in jobs)
    version = ui_version(tracking.uri)
    named = name if name and version is not None and lists_named_views(version) else None
    keys = [view.share_key(run_id, n, len(parts)) for n in range(len(parts))]
    for key, part in zip(keys, parts, strict=True):
        labels = sorted(
            {
                group.label(job.settings.record)
                for job in jobs
                if group.part(job.settings.record) == part
            }
        )
        state = view.state(run_id, group, labels, layers, part)
        title = named and " · ".join(filter(None, (view.part_name(part), named)))
        tag = view.tag_value(state, title or None)
        retry(client.set_experiment_tag, experiment_id, SHARE_TAG_PREFIX + key, tag)
    return lambda port: [view.url(tracking.uri, experiment_id, key, port) for key in keys]


def _summary(
    tracking: TrackingSettings,
    run_id: str,
    status: str,
    counts: Counter[str],
    links: Links,
    group: view.Grouping,
    parts: Sequence[Mapping[str, str]],
) -> list[str]:
    """The lines that end a sweep: what it recorded where, and the commands to look, to
    paste as printed (absolute executables; the UI on a port free right now)."""
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    port = UI_PORT if served(tracking.uri) else ui_port()
    report = executable("shallownet-report", "shallownet.report.cli")
    opens = links(port)
    return [
        f"shallownet: {sum(counts.values())} runs ({summary}) under parent run {run_id} "
        f"({status}) in experiment {tracking.experiment!r} of {tracking.uri}",
        f"  compare: {report} --tracking-uri {shlex.quote(tracking.uri)}",
        *([] if served(tracking.uri) else [f"  serve:   {ui_command(tracking.uri, port)}"]),
        *([f"  views:   {view.split_line(group, parts)}"] if len(opens) > 1 else []),
        *(f"  open:    {link}" for link in opens),
    ]


def _store_lost(tracking: TrackingSettings, stopping: bool) -> None:
    """The SQLite file the sweep wrote to was deleted or replaced while it ran."""
    msg = (
        f"the store {tracking.uri} was deleted or replaced while the sweep ran: the runs "
        "it recorded went with the file; run the sweep again"
    )
    if stopping:  # the sweep is already stopping on another exception: keep that one
        log.error("shallownet: %s", msg)
        return
    raise StoreFailed(msg)


def _cannot_end(tracking: TrackingSettings, exc: Exception, stopping: bool) -> None:
    """The store cannot take the sweep's end: say so, and how its runs will still end."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = (
        f"cannot end the sweep's runs in {tracking.uri} ({type(exc).__name__}: {first}); "
        f"runs left RUNNING are ended KILLED by the next shallownet command on this store "
        f"(e.g. {executable('shallownet-report', 'shallownet.report.cli')} --tracking-uri "
        f"{shlex.quote(tracking.uri)}) once it can be written"
    )
    if stopping:  # the sweep is already stopping on another exception: keep that one
        log.error("shallownet: %s", msg)
        return
    raise StoreFailed(msg) from exc
