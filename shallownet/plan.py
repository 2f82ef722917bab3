"""A sweep: the jobs typed, composed once, validated once, before anything is written.

    shallownet -m init=zeros,small activation=tanh,relu seed=0,1     8 jobs, exactly

:func:`plan` expands the typed grid (``hydra.sweeper.params`` of a preset,
then the command line) as Hydra's basic sweeper does, and composes and validates
every job (:mod:`shallownet.compose`): a bad value in job 1,937 is reported in one
line before job 0 starts, and before any folder, store or run exists.
:func:`run_sweep` then opens the sweep's parent run, gives each job its place in
the sweep (``Job.in_sweep``) and hands the jobs to the launcher.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Mapping, Sequence, Set
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, RangeSweep
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf

from .carried_plugins import refuse_uncarried, refuse_unpicklable
from .compose import Composer, compose_jobs
from .errors import ConfigError, JobsFailed, jobs_failed_line
from .job import Job
from .schema import RULES, Rule
from .settings import TrackingSettings, record_key, text
from .sweep_folder import claimed
from .validate import check_grid, check_launcher, launch_dir

if TYPE_CHECKING:
    from .tracking.parent import ParentRun

log = logging.getLogger("shallownet")
SAY_VALIDATING = 1000  # jobs: from about this many, validating takes a second or more


@dataclass(frozen=True)
class Axis:
    """One key of a sweep and its values as typed (``init``: ``zeros,small``)."""

    key: str
    typed: str
    values: list[str]  # one override per value: ["init=zeros", "init=small"]
    elements: list[Any]  # each value as Hydra parsed it: ["zeros", "small"]

    @property
    def swept(self) -> bool:
        return len(self.values) > 1


def axes(
    params: Mapping[str, str], arguments: Sequence[str], parser: OverridesParser
) -> list[Axis]:
    """The sweep's keys in order: a preset's ``hydra.sweeper.params``, then the command line
    (a key typed again replaces the preset's values)."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    overrides = parser.parse_overrides(lines)
    sizes = {o.get_key_element(): (_size(o), str(o.input_line)) for o in overrides}
    largest = max(sizes.values(), key=lambda size: size[0])[1]  # the first typed, on a tie
    check_grid(math.prod(size for size, _ in sizes.values()), largest)
    found: dict[str, Axis] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                msg = (
                    f"{override.input_line!r} is invalid: the shallownet sweeper takes lists "
                    f"(a,b), range(...) and glob(...), not intervals; see shallownet --help"
                )
                raise ConfigError(msg)
            values = [f"{key}={value}" for value in override.sweep_string_iterator()]
            elements: list[Any] = list(override.sweep_iterator())
            if not values:  # range(0), glob(zzz*): a sweep of nothing
                msg = (
                    f"{override.input_line!r} is invalid: it gives no value to sweep; "
                    f"give at least one value (shallownet --help lists the options)"
                )
                raise ConfigError(msg)
        else:
            values = [f"{key}={override.get_value_element_as_str()}"]
            elements = [override.value()]
        typed = str(override.input_line).partition("=")[2]
        found.pop(key, None)
        found[key] = Axis(key, typed, values, elements)
    return list(found.values())


def _size(override: Override) -> int:
    """How many values an override gives, known before any is listed: a range by its
    bounds (``seed=range(0,4294967295)`` lists nothing); a list or a glob of the options
    by listing them (as many as typed, or as there are options)."""
    if not override.is_sweep_override():
        return 1
    value = override.value()
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if start is None or stop is None or step is None or step == 0:
            return 1  # Hydra's own message says what is wrong with it, as it lists them
        if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
            return len(range(start, stop, step))
        return max(0, math.ceil((stop - start) / step))
    if isinstance(value, ChoiceSweep):
        return len(value.list)
    return 1  # a glob: at most as many values as the group has options


def first_refused(sweep_axes: Sequence[Axis], groups: Set[str]) -> list[str] | None:
    """The first job, in the grid's order, with a value its field's rule refuses, found
    without composing the grid (a 250,000-job sweep with one bad value is refused in
    seconds); None if no value is refused on its own (its job is then composed and
    checked with the others, as a value the rule refuses only once converted is)."""
    refused = {
        line
        for axis in sweep_axes
        if axis.key not in groups and (rule := RULES.get(axis.key)) is not None
        for line, element in zip(axis.values, axis.elements, strict=True)
        if _refuses(rule, element)
    }
    if not refused:
        return None
    jobs = itertools.product(*(axis.values for axis in sweep_axes))
    return next((list(job) for job in jobs if refused.intersection(job)), None)


def _refuses(rule: Rule, element: Any) -> bool:
    try:
        return rule(element) is not None
    except Exception:  # a rule for another type: composing the job says what is wrong
        return False


def grid(sweep_axes: Sequence[Axis]) -> list[list[str]]:
    """Every job's overrides: the product of the axes, in Hydra's order."""
    return [list(job) for job in itertools.product(*(axis.values for axis in sweep_axes))]


def launcher_choice(master: DictConfig) -> str:
    """The launcher option the sweep runs under (``batched``, ``joblib``, ...)."""
    return str(OmegaConf.select(master, "hydra.runtime.choices.hydra/launcher", default=""))


def plan(
    master: DictConfig,
    loader: ConfigLoader,
    params: Mapping[str, str],
    arguments: Sequence[str],
) -> tuple[list[Axis], list[Job]]:
    """The sweep's axes and its validated jobs, or ConfigError for the first bad one."""
    choice = launcher_choice(master)
    parameters = OmegaConf.to_container(master.hydra.launcher, resolve=False)
    assert isinstance(parameters, dict)
    check_launcher(choice, {str(key): value for key, value in parameters.items()})
    composer = Composer(master, loader)
    sweep_axes = axes(params, arguments, composer.parser)
    if (bad := first_refused(sweep_axes, composer.groups)) is not None:
        compose_jobs(composer, [bad])  # raises the line composing every job would
    jobs = grid(sweep_axes)
    if len(jobs) >= SAY_VALIDATING:
        log.info("shallownet: composing and validating %d jobs ...", len(jobs))
    return sweep_axes, compose_jobs(composer, jobs)


def sweep_name(sweep_axes: Sequence[Axis]) -> str:
    """The parent run's name: the axes actually swept (``init=zeros,small seed=range(3)``),
    after the preset, if one was chosen."""
    preset = [axis.values[0].partition("=")[2] for axis in sweep_axes if axis.key == "experiment"]
    swept = " ".join(f"{axis.key}={axis.typed}" for axis in sweep_axes if axis.swept)
    return ": ".join([*preset, swept or "one job"])


def group_keys(sweep_axes: Sequence[Axis], planned: Sequence[Job]) -> list[str]:
    """The keys a sweep's runs are compared by: those swept, as recorded, except the seed
    (runs that differ only in their seed are repeats of one configuration)."""
    keys = dict.fromkeys(record_key(axis.key) for axis in sweep_axes if axis.swept)
    return [
        key
        for key in keys
        if key != "seed"
        and key in planned[0].settings.record
        and len({text(job.settings.record[key]) for job in planned}) > 1
    ]


@dataclass
class Swept:
    """A sweep that ran: each job's JobReturn (as Hydra's sweepers return them), its
    jobs, where they are recorded, and its parent run (None when tracking is off)."""

    returns: list[Sequence[JobReturn]]
    jobs: list[Job]
    tracking: TrackingSettings | None
    parent: ParentRun | None = None


# Set by a caller that reads the sweep's runs back (sn.sweep): the line that refuses a
# sweep with tracking off, before anything is written
NEEDS_TRACKING: ContextVar[str | None] = ContextVar("needs_tracking", default=None)


def run_sweep(
    master: DictConfig,
    hydra_context: HydraContext,
    launcher: Launcher,
    params: Mapping[str, str],
    arguments: Sequence[str],
) -> Swept:
    """Validate every job, then (and only then) write: the sweep folder, the store, the
    parent run; launch the jobs; end the parent run with the sweep's true status."""
    sweep_axes, planned = plan(master, hydra_context.config_loader, params, arguments)
    if (needs := NEEDS_TRACKING.get()) is not None and planned[0].settings.tracking is None:
        raise ConfigError(needs)
    choice = launcher_choice(master)
    if not isinstance(launcher, JobLauncher) and choice != "basic":  # Hydra's, elsewhere
        refuse_uncarried([job.settings for job in planned], choice)
    elif len(planned) > 1 and getattr(launcher, "workers", lambda: 1)() > 1:
        refuse_unpicklable(choice)  # carried to its workers with each batch
    named = launch_dir(master) / str(master.hydra.sweep.dir)
    with claimed(named, next_free=clock_named(master)) as sweep_dir:
        if sweep_dir != named:  # another sweep started in the same second holds it
            planned = moved(master, planned, named, sweep_dir)
        OmegaConf.save(master, sweep_dir / "multirun.yaml")
        swept = _run_planned(launcher, sweep_axes, planned, sweep_dir)
    if swept.parent is not None and swept.parent.lost:
        raise JobsFailed(jobs_failed_line(swept.parent.lost, len(planned)), swept)
    return swept


def clock_named(master: DictConfig) -> bool:
    """Whether the sweep's folder is named by the clock (``${now:...}``, Hydra's default)."""
    sweep = OmegaConf.to_container(master.hydra.sweep, resolve=False)
    return isinstance(sweep, dict) and "${now:" in str(sweep.get("dir", ""))


def moved(master: DictConfig, planned: Sequence[Job], named: Path, folder: Path) -> list[Job]:
    """The sweep and its jobs in ``folder`` instead of ``named`` (which another sweep
    holds): ``hydra.sweep.dir`` as every launcher reads it, each job's output folder."""
    relative = os.path.relpath(folder, launch_dir(master))
    master.hydra.sweep.dir = relative
    master.hydra.overrides.hydra.append(f"hydra.sweep.dir={relative}")  # Hydra's launchers
    log.info(
        "shallownet: %s is another sweep's (started the same second); using %s", named, folder
    )
    return [
        replace(job, output_dir=str(folder / Path(job.output_dir).relative_to(named)))
        for job in planned
    ]


def _run_planned(
    launcher: Launcher, sweep_axes: Sequence[Axis], planned: list[Job], sweep_dir: Path
) -> Swept:
    """Launch the planned jobs, under the sweep's parent run where they are tracked."""
    tracking = planned[0].settings.tracking
    if tracking is None:
        return Swept([_launch(launcher, planned)], planned, None)
    from .tracking.parent import parent_run

    typed = {axis.key: axis.typed for axis in sweep_axes}
    grouped = group_keys(sweep_axes, planned)
    name = sweep_name(sweep_axes)
    drawn = drawing_figures(planned)
    with parent_run(tracking, name, typed, str(sweep_dir), planned, grouped, _report) as parent:
        in_sweep = [parent.adopt(job, job.num in drawn) for job in planned]
        returns = [_launch(launcher, in_sweep)]
    return Swept(returns, in_sweep, tracking, parent)


def drawing_figures(jobs: Sequence[Job]) -> set[int]:
    """The jobs that draw their figures: with ``tracking.run_figures=first_seed`` the first
    of each configuration (its runs that differ only in their seed are repeats), else all
    (none with ``tracking.figures=false``)."""
    drawn: dict[str, int] = {}
    for job in jobs:
        tracking = job.settings.tracking
        if tracking is None or not tracking.figures:
            continue
        record = {k: text(v) for k, v in job.settings.record.items() if k != "seed"}
        key = str(job.num) if tracking.run_figures == "every_run" else str(sorted(record.items()))
        drawn.setdefault(key, job.num)
    return set(drawn.values())


def _report(uri: str, experiment: str, parent_id: str, figures: bool) -> None:
    """The end-of-sweep report, attached to the parent run (shallownet.report)."""
    from .report.write import attach_report

    attach_report(uri, experiment, parent_id, figures)


def _launch(launcher: Launcher, jobs: Sequence[Job]) -> Sequence[JobReturn]:
    """Run the jobs: validated, with a shallownet launcher; Hydra's own launchers compose
    each job again from its overrides, and what the sweep set (its parent run, its view)
    goes with them as overrides of the schema's sweep keys."""
    if isinstance(launcher, JobLauncher):
        returns = launcher.launch_jobs(jobs)
    else:
        overrides = [[*job.overrides, *sweep_overrides(job)] for job in jobs]
        returns = launcher.launch(overrides, initial_job_idx=0)
    for ret in returns:  # a job whose task raised stops the sweep here, with its error
        if ret.status == JobStatus.FAILED:  # (Hydra's getter first writes a line of its own)
            raise ret._return_value
    return returns


def sweep_overrides(job: Job) -> list[str]:
    """What the sweep set for a job (schema.SWEEP_KEYS), as overrides Hydra can parse."""
    tracking = job.settings.tracking
    if tracking is None or tracking.parent_run_id is None:
        return []
    lines = [f"tracking.parent_run_id={tracking.parent_run_id}"]
    if tracking.draw_figures is not None:
        lines.append(f"tracking.draw_figures={str(tracking.draw_figures).lower()}")
    if tracking.view_tag is not None and tracking.view_group is not None:
        lines.append(f"tracking.view_tag={quoted(tracking.view_tag)}")
        lines.append(f"tracking.view_group={quoted(tracking.view_group)}")
    return lines


def quoted(value: str) -> str:
    """A string as a quoted value of Hydra's override grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@runtime_checkable
class JobLauncher(Protocol):
    """A launcher that takes validated jobs (shallownet's batched launcher)."""

    def launch_jobs(self, jobs: Sequence[Job]) -> Sequence[JobReturn]: ...
