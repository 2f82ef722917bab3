"""A search by another Hydra sweeper (Optuna, Nevergrad, Ax) through the batched launcher:
its trials recorded as a shallownet sweep's jobs are.

Such a sweeper calls the launcher once per batch of trials it draws. The search's parent
run opens with the first batch and ends when Hydra's multirun ends (:class:`EndSearch`,
a Hydra callback of ``conf/config.yaml``): FINISHED, with the end-of-search report, the
view grouped by the searched keys and the ``compare``/``serve``/``open`` lines; KILLED or
FAILED, with the reason, when a batch stops on an interrupt or an error. Each trial is
validated alone: a value the sampler draws that fails validation fails that trial (a
FAILED run with the reason), not the search. The sweeper gets the worst value there is
for a failed trial, refused or diverged (+inf when it minimizes, -inf when it maximizes):
Optuna takes no nan, and a failure of its own would stop the search
(``max_failure_rate`` 0); a penalty steers its sampler away instead.
"""

# No `from __future__ import annotations`: Hydra's plugin scan imports this package.
import atexit
import contextlib
import logging
import math
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple  # noqa: UP035

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("shallownet")


class Search:
    """One search's parent run, across the launcher's calls."""

    def __init__(self, config: DictConfig) -> None:
        self.config = config
        self.stack: Optional[contextlib.ExitStack] = None  # noqa: UP045
        self.parent: Any = None  # shallownet.tracking.parent.ParentRun, once open
        self.tracking: Any = None  # the trials' TrackingSettings, once open
        self.started = time.time()
        self.trials = 0  # launched or refused so far
        self.refused: Set[str] = set()  # noqa: UP006  (their runs, as lost() names them)

    def sweeper(self) -> str:
        return str(OmegaConf.select(self.config, "hydra.runtime.choices.hydra/sweeper") or "")

    def axes(self) -> Dict[str, str]:  # noqa: UP006
        """The searched keys as typed: ``hydra.sweeper.params``, then the command line's
        sweep overrides (``train.learning_rate=interval(0.1,2.0)``)."""
        params = OmegaConf.select(self.config, "hydra.sweeper.params", default=None)
        plain = OmegaConf.to_container(params, resolve=False) if params is not None else {}
        assert isinstance(plain, dict)
        typed = {str(k): str(v) for k, v in plain.items()}
        task = OmegaConf.to_container(self.config.hydra.overrides.task, resolve=False)
        assert isinstance(task, list)
        for override in OverridesParser.create().parse_overrides([str(t) for t in task]):
            if override.is_sweep_override():
                typed[override.get_key_element()] = str(override.input_line).partition("=")[2]
        return typed

    def direction(self) -> Optional[str]:  # noqa: UP045
        """``minimize`` or ``maximize``: what the sweeper does with a trial's value (None
        for a sweeper that optimizes nothing, Hydra's basic one)."""
        direction = OmegaConf.select(self.config, "hydra.sweeper.direction", default=None)
        return None if direction is None else str(direction).split(".")[-1].lower()

    def objective(self) -> Optional[str]:  # noqa: UP045
        """What the sweeper optimizes: the task's value, a job's final cost."""
        direction = self.direction()
        return None if direction is None else f"{self.sweeper()}: {direction} final_cost"

    def worst(self) -> Optional[float]:  # noqa: UP045
        """The value of a failed trial for an optimizing sweeper: the worst there is."""
        direction = self.direction()
        if direction is None:
            return None
        return -math.inf if direction == "maximize" else math.inf

    def count(self, before: int, drawn: int) -> Tuple[int, int, float]:  # noqa: UP006
        """How a batch's trials are counted: out of the search's ``n_trials`` (Optuna's),
        else of those drawn so far (``drawn`` launched in this batch); after the ``before``
        that ended earlier (drawn before it, and refused in it); since the search began."""
        trials = OmegaConf.select(self.config, "hydra.sweeper.n_trials", default=None)
        so_far = before + drawn
        return (
            trials if isinstance(trials, int) and trials >= so_far else so_far,
            before,
            self.started,
        )

    def open(self, jobs: Sequence[Any]) -> None:
        """The parent run, with the first batch of trials (tracking as theirs)."""
        from shallownet.report.write import attach_report
        from shallownet.settings import record_key
        from shallownet.sweep_folder import claimed
        from shallownet.tracking.parent import parent_run
        from shallownet.validate import launch_dir

        tracking = self.tracking = jobs[0].settings.tracking
        axes = self.axes()
        name = f"{self.sweeper()}: " + " ".join(f"{k}={v}" for k, v in axes.items())
        keys = [record_key(key) for key in axes if record_key(key) in jobs[0].settings.record]
        folder = launch_dir(self.config) / str(self.config.hydra.sweep.dir)
        sweep_dir = str(folder)
        with contextlib.ExitStack() as stack:  # closed here only if the opening fails
            stack.enter_context(claimed(folder))
            self.parent = stack.enter_context(
                parent_run(
                    tracking,
                    name,
                    axes,
                    sweep_dir,
                    jobs,
                    keys,
                    attach_report,
                    search=self.objective(),
                    planned=False,  # the sweeper draws its trials as it goes
                )
            )
            self.stack = stack.pop_all()
        atexit.register(self.end, RuntimeError("the search stopped before Hydra ended it"))

    def in_search(self, jobs: Sequence[Any]) -> List[Any]:  # noqa: UP006
        """The jobs under the parent run (opened with the first), grouped in its view."""
        self.trials += len(jobs)
        if not jobs or jobs[0].settings.tracking is None:
            return list(jobs)
        if self.stack is None:
            self.open(jobs)
        parent = self.parent
        return [parent.adopt(job, True) for job in jobs]

    def refuse(self, overrides: Sequence[str], num: int, reason: str) -> None:
        """A trial that failed validation: a FAILED run with the reason, under the parent
        (once it is open: a search whose first trials all fail has none yet)."""
        log.error("%s: FAILED: %s", ",".join(overrides), reason)
        self.trials += 1
        self.refused.add(f"{','.join(overrides)[:250]}: {reason[:5000]}")
        if self.parent is not None:
            from shallownet.tracking.parent import record_refused

            record_refused(self.tracking, self.parent.run_id, list(overrides), num, reason)

    def end(self, exc: Optional[BaseException] = None) -> None:  # noqa: UP045
        """End the parent run: FINISHED, or as ``exc`` says (KILLED on an interrupt)."""
        stack, self.stack = self.stack, None
        if self in _searches:  # the next multirun of this process is a search of its own
            _searches.remove(self)
        if stack is None:
            return
        if exc is None:
            stack.close()
        else:
            with contextlib.suppress(BaseException):
                stack.__exit__(type(exc), exc, exc.__traceback__)


_searches: List[Search] = []  # noqa: UP006  (the searches of this process, at most one)


def search_of(config: DictConfig) -> Search:
    """The search these trials belong to (one per multirun)."""
    if not _searches:
        _searches.append(Search(config))
    return _searches[0]


def jobs_of_trials(
    config: DictConfig,
    loader: Any,
    job_overrides: Sequence[Sequence[str]],
    first_num: int,
    stores: bool = True,
) -> Tuple[List[Any], Dict[int, str]]:  # noqa: UP006
    """The trials composed and validated one by one: the valid ones as jobs, and each
    refused one's reason by its number (``stores=False``: their store, which the search's
    first batch checked, is not checked again)."""
    from shallownet.compose import Composer, compose_jobs
    from shallownet.errors import ConfigError
    from shallownet.messages import USER_ERRORS, one_line

    composer = Composer(config, loader)
    jobs: List[Any] = []  # noqa: UP006
    refused: Dict[int, str] = {}  # noqa: UP006
    for k, overrides in enumerate(job_overrides):
        try:
            jobs += compose_jobs(composer, [overrides], first_num + k, stores)
        except ConfigError as exc:
            refused[first_num + k] = str(exc)
        except USER_ERRORS as exc:
            refused[first_num + k] = one_line(exc)
    return jobs, refused


DIRECTIONS = ("minimize", "maximize")


def check_search(config: DictConfig) -> None:
    """Everything another sweeper's search can be refused for before it starts (the
    sweeper would fail on it only later: n_trials=0 divides by zero), as one line:
    its counts, its direction, each searched key's space, and no resume (a search draws
    its trials anew: there is nothing to skip)."""
    from shallownet.errors import ConfigError

    search = Search(config)
    for key in ("n_trials", "n_jobs"):
        value = OmegaConf.select(config, f"hydra.sweeper.{key}", default=None)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            msg = f"hydra.sweeper.{key}={value!r} is invalid: must be an integer >= 1"
            raise ConfigError(msg)
    direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
    if direction is not None and search.direction() not in DIRECTIONS:
        msg = (
            f"hydra.sweeper.direction={direction!r} is invalid: must be "
            f"{' or '.join(DIRECTIONS)} (of a job's final cost)"
        )
        raise ConfigError(msg)
    if OmegaConf.select(config, "tracking.skip_finished", default=False) is True:
        msg = (
            f"tracking.skip_finished=true is invalid for a search (hydra/sweeper="
            f"{search.sweeper()}): it draws its trials anew, none to skip; leave it out"
        )
        raise ConfigError(msg)
    parser = OverridesParser.create()
    for key, typed in search.axes().items():
        try:
            (override,) = parser.parse_overrides([f"{key}={typed}"])
        except Exception:  # a space in the sweeper's own syntax: the sweeper's to check
            continue
        _check_space(key, typed, override.value())


def _check_space(key: str, typed: str, space: Any) -> None:
    """A searched key's space holds a value to draw, and one its field allows."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep

    from shallownet.errors import ConfigError
    from shallownet.schema import RULES

    line = f"{key}={typed} is invalid"
    if isinstance(space, IntervalSweep):
        start, end = float(space.start or 0), float(space.end or 0)  # Hydra's parser sets both
        if not start < end:
            msg = f"{line}: an interval's lower bound must be below its upper one"
            raise ConfigError(msg)
        if "log" in space.tags and start <= 0:
            msg = f"{line}: a log-scaled interval must lie above 0 (its lower bound is {start:g})"
            raise ConfigError(msg)
        values: List[Any] = [start, (start + end) / 2, end]  # noqa: UP006
    elif isinstance(space, ChoiceSweep):
        values = list(space.list)
    else:
        return
    rule = RULES.get(key)
    if rule is None:
        return
    allowed = [rule(value) for value in values]
    if all(allowed):  # bounds and middle refused: no value the search could draw is allowed
        msg = f"{line}: no value in it is allowed ({allowed[0]})"
        raise ConfigError(msg)


class EndSearch(Callback):
    """Hydra callback: before a multirun of another sweeper, check its search
    (:func:`check_search`); at its end, end the search's parent run, and carry out of
    Hydra (which makes a callback's errors warnings) that trials failed on an error."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if Search(config).sweeper() in ("shallownet", "basic"):
            return  # the shallownet sweeper validates its own; Hydra's basic one has none
        from shallownet.messages import abort_on_user_error

        with abort_on_user_error():
            check_search(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from shallownet.errors import CallbackError, JobsFailed, jobs_failed_line

        while _searches:
            search = _searches.pop()
            search.end()
            # a drawn value its field refuses is part of a search: not a trial it lost
            found = search.parent.lost if search.parent is not None else []
            lost = [line for line in found if line not in search.refused]
            if lost:
                line = jobs_failed_line(lost, search.trials, "run the search again")
                failed = JobsFailed(line, search.parent)
                raise CallbackError(failed)
