"""A job: the validated record of one run, and where it sits in its sweep.

A job is made once, by validation (:mod:`shallownet.validate`), and carried
onward: to the launcher, into worker processes (as JSON, with the other jobs of
its batch), to the job lifecycle and the tracking. What the job needs of its sweep,
its parent run and its group in the sweep's view, is part of it
(``settings.tracking``), set by :meth:`Job.in_sweep` once the parent run exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import yaml

from .settings import Settings, TrackingSettings

# libyaml's dumper where PyYAML has it: the same text, 4x faster (twice per job of a sweep)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Job:
    """A validated job and where it sits: its run name, overrides, number and folder."""

    settings: Settings
    label: str  # the run name: the values the job's overrides set
    overrides: tuple[str, ...]
    num: int
    multirun: bool
    output_dir: str
    launch_dir: str
    config: dict[str, Any]  # the resolved config, recorded with the run (config.yaml)
    # bytes one network of the job needs while it trains, and those its batch needs once
    # (its data), as validation estimated them (0 where it did not): the batched
    # launcher sizes batches by them
    network_memory: int = 0
    batch_memory: int = 0

    def with_memory(self, network: int, batch: int) -> Job:
        return replace(self, network_memory=network, batch_memory=batch)

    def config_yaml(self) -> str:
        """``config.yaml``: the job's resolved config."""
        return yaml.dump(self.config, Dumper=_YAML_DUMPER, sort_keys=False)

    def overrides_yaml(self) -> str:
        """``overrides.yaml``: the job's overrides, as Hydra writes them."""
        return yaml.dump(list(self.overrides), Dumper=_YAML_DUMPER)

    @property
    def parent_run_id(self) -> str | None:
        """The sweep's parent run, for a job of a tracked sweep."""
        tracking = self.settings.tracking
        return tracking.parent_run_id if tracking is not None else None

    def in_sweep(self, parent_run_id: str, view_tag: str, view_group: str, figures: bool) -> Job:
        """This job as its sweep runs it: under the parent run, in the view's group
        ``view_group`` (the value of its run tag ``view_tag``), and whether it draws its
        figures."""
        tracking = self.settings.tracking
        if tracking is None:
            return self
        tracking = replace(
            tracking,
            parent_run_id=parent_run_id,
            view_tag=view_tag,
            view_group=view_group,
            draw_figures=figures,
        )
        return replace(self, settings=replace(self.settings, tracking=tracking))

    @staticmethod
    def to_json(jobs: Sequence[Job]) -> str:
        """Jobs as one JSON text, for a batch config (``cfg.batch``): one string node,
        where a list of configs would cost OmegaConf a node per value."""
        entries = []
        for job in jobs:
            fields = asdict(job)
            tracking = job.settings.tracking
            fields["settings"] = {
                "record": dict(job.settings.record),
                "tracking": tracking and asdict(tracking),
            }
            entries.append(fields)
        return json.dumps(entries)

    @classmethod
    def from_json(cls, text: str) -> list[Job]:
        jobs = []
        for entry in json.loads(text):
            saved = entry["settings"]
            tracking = None
            if saved["tracking"]:
                tracking = TrackingSettings(**saved["tracking"])
            fields = {**entry, "overrides": tuple(entry["overrides"])}
            fields["settings"] = Settings(saved["record"], tracking)
            jobs.append(cls(**fields))
        return jobs
