"""Comparison tables from tidy run frames: pure pandas, no MLflow.

Rows are the swept configurations (e.g. init × activation); each number is
the median over seeds with the range beside it, because with saturating
initializations single seeds mislead.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..diagnostics import layer_suffix
from ..vocabulary import LAYER_COLUMNS, REPORTED

DEFAULT_THRESHOLD = 0.3


def steps_to_threshold(curves: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.Series:
    """First recorded step at which each run's cost is at or below ``threshold`` (NaN: never)."""
    below = curves[curves["value"] <= threshold]
    first = below.groupby("run_id")["step"].min()
    return first.reindex(curves["run_id"].unique()).astype(float)


def per_run(
    runs: pd.DataFrame, curves: pd.DataFrame, keys: list[str], threshold: float = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """One row per run with the swept keys and the numbers the comparison summarizes."""
    out = runs[["run_id", *keys, "status"]].copy()
    for name, (_, source) in REPORTED.items():
        if source is not None:
            out[name] = pd.to_numeric(runs[source], errors="coerce") if source in runs else np.nan
    reached = steps_to_threshold(curves, threshold)
    out["steps_to_threshold"] = out["run_id"].map(reached)
    out["steps_recorded"] = out["run_id"].map(curves.groupby("run_id")["step"].max())
    return out


def configurations(
    table: pd.DataFrame, keys: list[str]
) -> list[tuple[tuple[object, ...], pd.DataFrame]]:
    """The rows of each configuration, in sweep order, keyed by a tuple of its values
    (one group of everything when there are no keys)."""
    if not keys:
        return [((), table)]
    grouped = table.groupby(keys, sort=False, dropna=False)
    return [(key if isinstance(key, tuple) else (key,), rows) for key, rows in grouped]


def comparison(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median, min and max over the FINISHED runs of each configuration, plus run counts.

    Columns: ``runs`` (jobs with a run), ``finished``, ``failed``, ``killed``
    (KILLED, or still RUNNING), ``reached`` (FINISHED runs whose cost got below
    the threshold) and ``<metric>_median|_min|_max`` for each summarized metric,
    over FINISHED runs only: a run that was stopped is not a result. Steps to the
    threshold count a run that never reached it as +inf (censored), so the median is
    +inf when fewer than half got there; ``steps_censored_at`` is the most steps such a
    run recorded (the table reads ``> 10000``).
    """
    rows = []
    for key, group in configurations(table, by):
        row: dict[str, object] = dict(zip(by, key, strict=True))
        finished = group[group["status"] == "FINISHED"]
        row["runs"] = len(group)
        row["finished"] = len(finished)
        row["failed"] = int((group["status"] == "FAILED").sum())
        row["killed"] = int(group["status"].isin(["KILLED", "RUNNING"]).sum())
        row["reached"] = int(finished["steps_to_threshold"].notna().sum())
        for name in REPORTED:
            if name == "steps_to_threshold":
                values, row["steps_censored_at"] = _censored(finished)
                _, low, high = spread(values)
                median = _median_censored(values)
            else:
                median, low, high = spread(finished[name])
            row[f"{name}_median"], row[f"{name}_min"], row[f"{name}_max"] = median, low, high
        rows.append(row)
    return pd.DataFrame(rows)


def spread(values: pd.Series) -> tuple[float, float, float]:
    """Median, min and max of the values present; NaN for none (every run failed), without
    numpy's empty-slice warning."""
    present = values.dropna().to_numpy(dtype=float)
    if present.size == 0:
        return (math.nan, math.nan, math.nan)
    return (float(np.median(present)), float(present.min()), float(present.max()))


def _median_censored(values: pd.Series) -> float:
    """The median, or where runs that never got there (+inf) make it infinite, the first
    step by which half the runs got there (the Kaplan-Meier median): +inf when fewer
    than half did."""
    if not len(values):
        return np.nan
    median = float(values.median())
    if math.isinf(median):
        median = float(values.sort_values().iloc[(len(values) - 1) // 2])
    return median


def _censored(finished: pd.DataFrame) -> tuple[pd.Series, float]:
    """Steps to the threshold with the runs that never got there counted as +inf (censored:
    they would have needed more than their recorded steps), and the most steps recorded
    by such a run. Leaving them out would make a setting where few runs learn look fast."""
    steps = finished["steps_to_threshold"]
    never = steps.isna() & finished["steps_recorded"].notna()
    bound = float(finished.loc[never, "steps_recorded"].max()) if never.any() else np.nan
    return steps.where(~never, math.inf).dropna(), bound


def _cell(median: float, low: float, high: float, integer: bool, bound: float = np.nan) -> str:
    """``median [min–max]``; a censored value (+inf) reads ``> bound``."""
    if math.isnan(median):
        return "–"
    fmt = "{:.0f}" if integer else "{:.3g}"

    def show(value: float) -> str:
        return f"> {fmt.format(bound)}" if math.isinf(value) else fmt.format(value)

    text = show(median)
    if low != high:
        text += f" [{show(low)}–{show(high)}]"
    return text


def readable(
    table: pd.DataFrame, by: list[str], threshold: float = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """The comparison as text cells: ``median [min–max]`` over seeds."""
    out = table[by].astype(str)
    out["runs"] = table["runs"].astype(str)
    for column in ("failed", "killed"):
        if (table[column] > 0).any():
            out[column] = table[column].astype(str)
    out[f"reached cost<{threshold:g}"] = (
        table["reached"].astype(str) + "/" + table["finished"].astype(str)
    )
    for name, (heading, _) in REPORTED.items():
        if table[f"{name}_median"].isna().all():
            continue
        integer = name in ("steps_to_threshold", "distinct_units")
        bounds = table.get("steps_censored_at", pd.Series(np.nan, index=table.index))
        out[heading.format(t=f"{threshold:g}")] = [
            _cell(m, lo, hi, integer, bound if name == "steps_to_threshold" else np.nan)
            for m, lo, hi, bound in zip(
                table[f"{name}_median"],
                table[f"{name}_min"],
                table[f"{name}_max"],
                bounds,
                strict=True,
            )
        ]
    return out


def hidden_layers(runs: pd.DataFrame) -> int:
    """How many hidden layers the runs' per-layer summaries cover (0: none recorded)."""
    n = 0
    while f"act_std{layer_suffix(n + 1)}_init" in runs.columns:
        n += 1
    return n


def per_layer(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame | None:
    """Per configuration and hidden layer, ``median [min–max]`` over FINISHED runs of the
    per-layer diagnostics; None for networks of one hidden layer."""
    n = hidden_layers(runs)
    if n < 2:
        return None
    rows = []
    for key, group in configurations(runs[runs["status"] == "FINISHED"], by):
        for l in range(1, n + 1):
            row: dict[str, object] = dict(zip(by, map(str, key), strict=True))
            row["layer"] = str(l)
            for heading, pattern in LAYER_COLUMNS.items():
                column = pattern.format(s=layer_suffix(l), l=l)
                if column in runs.columns:
                    median, low, high = spread(pd.to_numeric(group[column], errors="coerce"))
                    if not math.isnan(median):
                        row[heading] = _cell(median, low, high, False)
            rows.append(row)
    return pd.DataFrame(rows).fillna("–")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
