"""A sweep's saved view in the MLflow UI: its runs grouped by what was swept, on the curves
that show symmetry and saturation, one URL away.

MLflow's experiment page opens a saved view from the URL parameter
``viewStateShareKey=<key>``, reading it from the experiment tag
``mlflow.sharedViewState.<key>``. The view's format is MLflow's own and not a
documented API; it was read from MLflow's UI source (``ExperimentPageUIState``,
``useSharedExperimentViewState``, ``RunsChartsCardConfig``) and checked in a real
browser against the versions the ``mlflow`` requirement of ``pyproject.toml`` allows
(``tests/test_ui_browser.py``). Where the installed MLflow's UI has no saved views,
the sweep prints a plain link with a one-line notice instead.

Each sweep gets one view, keyed by its parent run's id (or, where its groups' names
would not be told apart in MLflow's run list, one view per value of its first swept
keys, keyed ``<parent>.0``, ``<parent>.1``, ...):

- the runs of this sweep (``tags.mlflow.parentRunId = '<parent>'``, and, for one of
  several views, ``params.`data` = 'flower'``);
- grouped by every other swept key except the seed (the run tag ``init x activation``
  holds ``small·tanh``), each group drawn as its average with a min-max band over the
  seeds, and in a colour of its own;
- first the lessons as bars of the group averages (``sat_frac_init``: saturation at
  initialization; ``distinct_units_final``: symmetry), then the curves (``cost``,
  ``distinct_units``, ``sat_frac``, ...), two to a row, then the other one-value
  summaries as bars;
- saved under the sweep's name where MLflow's "Views" menu lists saved views by name
  (MLflow 3.15 and later: ``{"name", "createdAt", "state"}``), else as the bare state;
- as columns, the swept params, the key summaries and each run's description.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from mlflow.tracking import MlflowClient

from ..settings import text
from ..vocabulary import (
    COLUMNS,
    CURVES,
    FINER,
    LESSONS,
    PARENT_TAG,
    SHARE_TAG_PREFIX,
    SUMMARIES,
    summary_names,
)
from .mlflow_internals import ui_reads_saved_views
from .store import UI_PORT, served, ui_address

DEFLATED = "deflate;"  # MLflow's prefix of compressed UI state
CHARTS_PER_ROW, CARD_HEIGHT = 2, 520  # pixels

# A run's group is the tag named after the swept keys (``init x activation``), valued by
# their values (``small·tanh``): short enough for MLflow's run list and legends.
# Group colours: MLflow colours a group by a hash of its id (``tag.<name>.<value>``) into
# a palette of 29, stored nowhere but in the browser. So the tag's name takes the first of
# these forms under which every group of the sweep gets a colour of its own.
GROUP_TAG_FORMS = (  # each reads after MLflow's "Group by:"
    "{}",
    "swept {}",
    "{} group",
    "{} setting",
    "{} values",
    "{} case",
    "{} combination",
    "{} choice",
    "{} cell",
    "{} arm",
    "each {}",
    "{} pair",
)
VALUE_JOIN = "·"
# MLflow's run list beside the charts is 295 px wide whatever the screen (read from its
# UI: ExperimentViewRuns' ``useState(295)``, not part of a view's state), which leaves a
# group's name about 8 characters after "Group: " (the browser test measures it). So a
# sweep whose names differ only further on is put in another order of its keys, or with
# the values of all but its last key shortened, or split into one view per value of its
# first keys: whichever tells the names apart first, the fewest views first.
VISIBLE = 8
HEAD = 4  # a shortened value keeps at least its first 4 characters: sigm, zero, xavi
MOST_VIEWS = 8  # more views than this are no easier to read than cut names
PALETTE = (  # MLflow's run colours, in its order (RUNS_COLOR_PALETTE)
    "#a6630c", "#c83243", "#b45091", "#8a63bf", "#434a93", "#137dae", "#04867d", "#308613",
    "#facb66", "#1f272d", "#445461", "#5f7281", "#8396a5", "#93320b", "#be501e", "#de7921",
    "#f2be88", "#115026", "#277c43", "#3ba65e", "#8ddda8", "#9e102c", "#c82d4c", "#e65b77",
    "#f792a6", "#0e538b", "#2272b4", "#4299e0", "#8acaff",
)  # fmt: skip


def colour(group_id: str) -> str:
    """The colour MLflow's UI gives a run or group id (``getStableColorForRun``)."""
    data = group_id.encode("utf-16-le")  # JavaScript's charCodeAt: UTF-16 code units
    a = b = 0
    for i in range(0, len(data), 2):
        a = (a + int.from_bytes(data[i : i + 2], "little")) % 255
        b = (b + a) % 255
    return PALETTE[(a | b << 8) % len(PALETTE)]


@dataclass(frozen=True)
class Grouping:
    """How a sweep's runs are grouped: by the swept keys (not the seed), under a run tag
    named after them (``init x activation``) whose value is the run's group (``small·tanh``;
    with ``short`` values for some keys: ``sigm·constant``); with a ``split``, in one view
    per value of those keys (``data``)."""

    keys: tuple[str, ...]
    tag: str
    split: tuple[str, ...] = ()
    short: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def label(self, record: Mapping[str, Any]) -> str:
        values = [(key, text(record[key])) for key in self.keys]
        named = [self.short.get(key, {}).get(value, value) for key, value in values]
        return VALUE_JOIN.join(named) or "all runs"

    def group_id(self, label: str) -> str:
        """MLflow's id of the group of runs tagged ``label`` (it hashes this for a colour)."""
        return f"tag.{self.tag}.{label}"

    def part(self, record: Mapping[str, Any]) -> dict[str, str]:
        """The split keys' values of a run: which of the sweep's views it is in."""
        return {key: text(record[key]) for key in self.split}


def grouping(
    keys: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    split: bool = True,
    complete: bool = True,
) -> Grouping:
    """Group by ``keys`` (ordered, shortened or split into views so that the names are
    told apart in MLflow's run list), under the tag name that gives the most groups a
    colour of their own (all of them, unless there are more groups than MLflow has).
    Without ``split`` (the UI gets no saved view: the tag alone groups the runs), in one
    view; where the records are not ``complete`` (a search's first trials: later ones
    bring values not seen yet), in one view and with whole values."""
    laid = _layout(tuple(keys), records, split and complete, complete)
    name = " x ".join(laid.keys) or "sweep"
    candidates = [replace(laid, tag=form.format(name)) for form in GROUP_TAG_FORMS]
    labels = {laid.label(record) for record in records}

    def colours(group: Grouping) -> int:
        return len({colour(group.group_id(label)) for label in labels})

    return max(candidates, key=lambda group: (colours(group), -candidates.index(group)))


def _layout(
    keys: tuple[str, ...], records: Sequence[Mapping[str, Any]], split: bool, shorten: bool
) -> Grouping:
    """The fewest first keys to split the views by, then whole values before short ones,
    then the order of the other keys, under which every view's group names differ in their
    first :data:`VISIBLE` characters (the sweep's order first; the sweep's order, unsplit
    and whole, where nothing does)."""
    for n in range(len(keys) if split else 1):
        first = keys[:n]
        views = {tuple(text(record[key]) for key in first) for record in records}
        if len(views) > MOST_VIEWS or any("'" in value for view in views for value in view):
            break
        orders = list(itertools.permutations(keys[n:])) if len(keys) - n <= 4 else [keys[n:]]
        for short_values in (False, True) if shorten else (False,):
            for order in orders:
                short = _abbreviated(order[:-1], records) if short_values else {}
                group = Grouping(order, "", first, short)
                if _told_apart(group, records):
                    return group
    return Grouping(keys, "")


def _told_apart(group: Grouping, records: Sequence[Mapping[str, Any]]) -> bool:
    shown: dict[tuple[str, ...], set[str]] = {}
    names: dict[tuple[str, ...], set[str]] = {}
    for record in records:
        view, name = tuple(group.part(record).values()), group.label(record)
        names.setdefault(view, set()).add(name)
        shown.setdefault(view, set()).add(name[:VISIBLE])
    return all(len(shown[view]) == len(names[view]) for view in names)


def _abbreviated(
    keys: Sequence[str], records: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, str]]:
    """For each key, its values cut to the shortest head of at least :data:`HEAD`
    characters that no other of its values starts with (``sigmoid`` as ``sigm``, ``tanh``
    whole); numbers, and values that would lose one character or less, stay whole."""
    short: dict[str, dict[str, str]] = {}
    for key in keys:
        values = {text(record[key]) for record in records}
        for value in values - {v for v in values if _number(v)}:
            others = values - {value}
            heads = (value[:n] for n in range(HEAD, len(value) - 1))
            head = next((h for h in heads if not any(o.startswith(h) for o in others)), None)
            if head is not None:
                short.setdefault(key, {})[value] = head
    return short


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _key(kind: str, name: str) -> str:
    """MLflow's canonical column key: ``params.`init```."""
    return f"{kind}.`{name}`"


def _line(uuid: str, section: str, metric: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "type": "LINE",
        "metricSectionId": section,
        "isGenerated": False,
        "deleted": False,
        "runsCountToCompare": 10,
        "metricKey": metric,
        "selectedMetricKeys": [metric],
        "displayName": metric,
        "scaleType": "log" if metric == "cost" else "linear",  # cost falls over decades
        "xAxisScaleType": "linear",
        "xAxisKey": "step",
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "lineSmoothness": 0,
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
        "range": {},
    }


def _bar(uuid: str, section: str, metric: str, deleted: bool) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "type": "BAR",
        "metricSectionId": section,
        "isGenerated": False,
        "deleted": deleted,
        "runsCountToCompare": 10,
        "metricKey": metric,
        "displayName": metric,
    }


def state(
    parent_id: str,
    group: Grouping,
    labels: Sequence[str],
    layers: int,
    part: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The saved view of one sweep (or of its runs with the split keys' values ``part``),
    as MLflow's experiment page reads it: ``labels`` are its groups (listed collapsed: the
    run list reads as the charts' legend)."""
    curves = [*CURVES, *(f"grad_norm/W{n}" for n in range(1, layers + 1)), *FINER]
    summarized = summary_names(layers)
    other_summaries = [f"{key}_{when}" for key in summarized for when in ("init", "final")] + [
        f"{key}_final" for key in ("train_accuracy", "test_accuracy")
    ]
    hidden = [key for key in dict.fromkeys(other_summaries) if key not in SUMMARIES]
    charts = [_bar(f"lesson-{n}", "curves", metric, False) for n, metric in enumerate(LESSONS)]
    charts += [_line(f"curve-{n}", "curves", metric) for n, metric in enumerate(curves)]
    summaries = [metric for metric in SUMMARIES if metric not in LESSONS]
    charts += [_bar(f"summary-{n}", "summaries", m, False) for n, m in enumerate(summaries)]
    charts += [_bar(f"hidden-{n}", "summaries", m, True) for n, m in enumerate(hidden)]
    # two charts to a row, taller than MLflow's 360 px: wide enough for a group's name in
    # the legend, tall enough for the legend of many groups (read from MLflow's UI:
    # RunsChartsSection's ``columns`` and ``cardHeight``; older UIs ignore them)
    big = {"columns": CHARTS_PER_ROW, "cardHeight": CARD_HEIGHT}
    sections = [
        {"uuid": "curves", "name": "Model metrics", "display": True, "isReordered": True, **big},
        {"uuid": "summaries", "name": "Summaries", "display": False, "isReordered": True, **big},
    ]
    columns = [_key("params", key) for key in (*group.split, *group.keys, "seed")]
    search = [f"tags.`{PARENT_TAG}` = '{parent_id}'"]
    search += [f"{_key('params', key)} = '{value}'" for key, value in (part or {}).items()]
    columns += [_key("metrics", key) for key in COLUMNS]
    columns.append(_key("attributes", "Description"))
    return {
        "searchFilter": " and ".join(search),
        "selectedColumns": columns,
        "columnOrder": [],
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",
        # MLflow 3.17 fills in fields a shared view lacks; 3.7 takes the view as it is
        "runsExpanded": {},
        "runsPinned": [],
        "runsHidden": [],
        "runsVisibilityMap": {},
        "autoRefreshEnabled": True,
        "compareRunCharts": charts,
        "compareRunSections": sections,
        "isAccordionReordered": True,
        "viewMaximized": False,
        "runListHidden": False,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": group.tag}],
        },
        "groupsExpanded": {group.group_id(label): False for label in labels},
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
        "chartsSearchFilter": "",
    }


def tag_value(view: Mapping[str, Any], name: str | None = None) -> str:
    """The experiment tag's value: the view as JSON, deflated as MLflow's UI writes and
    reads it (``deflate;`` and base64 of zlib data). Every MLflow 3 UI reads this form,
    and it fits the 5,000 characters MLflow 3.7 allows an experiment tag (the plain JSON
    of a sweep's view is about 10,000). With a ``name``, it goes in the envelope that
    MLflow 3.15's "Views" menu lists by name (``SavedViewEnvelope``: ``name``,
    ``createdAt`` and ``updatedAt`` in milliseconds, the deflated ``state``), which the
    shared-view URL opens as well."""
    packed = zlib.compress(json.dumps(view, separators=(",", ":")).encode(), 9)
    state = DEFLATED + base64.b64encode(packed).decode()
    if name is None:
        return state
    now = int(time.time() * 1000)
    return json.dumps({"name": name, "createdAt": now, "updatedAt": now, "state": state})


def views(group: Grouping, records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The sweep's views, as the split keys' values of each, in the sweep's order (one
    view, of every run, where it is not split)."""
    parts = {tuple(group.part(record).items()): None for record in records}
    return [dict(part) for part in parts]


def share_key(parent_id: str, index: int, count: int) -> str:
    """The key of a sweep's view (``viewStateShareKey``): the parent run's id, with the
    view's index where the sweep has several."""
    return parent_id if count == 1 else f"{parent_id}.{index}"


def part_name(part: Mapping[str, str]) -> str:
    """A view's split values as the command line types them: ``data=flower``."""
    return " ".join(f"{key}={value}" for key, value in part.items())


def split_line(group: Grouping, parts: Sequence[Mapping[str, str]]) -> str:
    """What the views of a split sweep are, in the order their URLs are printed."""
    names = ", ".join(part_name(part) for part in parts)
    return f"one per {' x '.join(group.split)}, in this order: {names}"


def url(uri: str, experiment_id: str, key: str, port: int = UI_PORT) -> str:
    """The address of a saved view, on the server of an ``http(s)`` store or on the
    ``mlflow ui`` that :func:`~shallownet.tracking.store.ui_command` starts on ``port``."""
    query = urlencode({"viewStateShareKey": key, "compareRunsMode": "CHART"})
    return f"{experiment_page(uri, experiment_id, port)}/runs?{query}"


def experiment_page(uri: str, experiment_id: str, port: int = UI_PORT) -> str:
    """The address of an experiment's page in the MLflow UI of a store."""
    return f"{address(uri, port)}/#/experiments/{experiment_id}"


def saved_urls(client: MlflowClient, uri: str, parent_id: str, port: int = UI_PORT) -> list[str]:
    """The addresses of the views a sweep saved, in its order (none if it saved none)."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    tags = client.get_experiment(experiment_id).tags
    if SHARE_TAG_PREFIX + parent_id in tags:
        keys = [parent_id]
    else:  # a split sweep's views: <parent>.0, <parent>.1, ...
        split = (share_key(parent_id, n, 2) for n in itertools.count())
        keys = list(itertools.takewhile(lambda key: SHARE_TAG_PREFIX + key in tags, split))
    return [url(uri, experiment_id, key, port) for key in keys]


def address(uri: str, port: int = UI_PORT) -> str:
    """Where the MLflow UI of a store is served (by ``mlflow ui`` on ``port``)."""
    return uri.rstrip("/") if served(uri) else ui_address(port)


def supported() -> bool:
    """Whether the installed MLflow's UI opens saved views."""
    return ui_reads_saved_views()
