"""Figures of a sweep: a grid of cost curves and a symmetry/saturation summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from ..figures import new_figure
from .keys import display_name

COLORS = ["#2166ac", "#b2182b", "#1b7837", "#762a83", "#e08214", "#35978f", "#8c510a", "#c51b7d"]


def _label(keys: list[str], values: tuple[object, ...]) -> str:
    pairs = zip(keys, values, strict=True)
    return ", ".join(f"{display_name(k)}={v}" for k, v in pairs) or "all runs"


def cost_grid(table: pd.DataFrame, curves: pd.DataFrame, by: list[str]) -> Figure:
    """One panel per value of the last swept key, one line per value of the others:
    the median cost over seeds, with the min–max band."""
    panel_key = by[-1:] if len(by) >= 2 else []
    line_keys = by[:-1] if len(by) >= 2 else by
    panels = list(table.groupby(panel_key, sort=False)) if panel_key else [((), table)]
    fig = new_figure(4.2 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (panel_value, panel) in zip(axes, panels, strict=True):
        lines = panel.groupby(line_keys, sort=False) if line_keys else [((), panel)]
        for i, (line_value, group) in enumerate(lines):
            wide = curves[curves["run_id"].isin(group["run_id"])].pivot_table(
                index="step", columns="run_id", values="value"
            )
            if wide.empty:
                continue
            color = COLORS[i % len(COLORS)]
            values = line_value if isinstance(line_value, tuple) else (line_value,)
            ax.plot(
                wide.index,
                wide.median(axis=1),
                color=color,
                lw=1.4,
                label=_label(line_keys, values),
            )
            ax.fill_between(
                wide.index, wide.min(axis=1), wide.max(axis=1), color=color, alpha=0.18, lw=0
            )
        ax.axhline(np.log(2), color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
        ax.set_xlabel("step")
        values = panel_value if isinstance(panel_value, tuple) else (panel_value,)
        ax.set_title(_label(panel_key, values) if panel_key else "cost", fontsize="medium")
    low = float(curves["value"].min()) if len(curves) else 0.1
    if len(curves) and curves["value"].max() > 1.0:  # huge first costs would flatten the rest
        axes[0].set_ylim(max(low * 0.9, 1e-3), 1.0)
        axes[0].set_ylabel("cost (median, min–max over seeds;\nclipped at 1)")
    else:
        axes[0].set_ylabel("cost (median, min–max over seeds)")
    axes[-1].legend(fontsize="small", loc="upper right")
    return fig


def summary_chart(table: pd.DataFrame, by: list[str]) -> Figure:
    """Per configuration: distinct hidden units at the end (symmetry), saturated fraction
    at initialization (saturation) and final cost; bars are medians, whiskers min–max."""
    groups = list(table.groupby(by, sort=False)) if by else [((), table)]
    labels = ["\n".join(map(str, v if isinstance(v, tuple) else (v,))) for v, _ in groups]
    fig = new_figure(max(6.0, 0.55 * len(groups) * 3), 3.4)
    axes = fig.subplots(1, 3)
    for ax, (column, title) in zip(
        axes,
        [
            ("distinct_units", "distinct hidden units (end)"),
            ("sat_frac_init", "saturated fraction (init)"),
            ("final_cost", "final cost"),
        ],
        strict=True,
    ):
        stats = [g[column].agg(["median", "min", "max"]) for _, g in groups]
        med = np.array([s["median"] for s in stats], dtype=float)
        low = np.array([s["min"] for s in stats], dtype=float)
        high = np.array([s["max"] for s in stats], dtype=float)
        x = np.arange(len(groups))
        ax.bar(
            x,
            np.nan_to_num(med),
            color=[COLORS[i % len(COLORS)] for i in range(len(groups))],
            alpha=0.8,
        )
        ax.errorbar(
            x, med, yerr=[med - low, high - med], fmt="none", ecolor="k", lw=0.8, capsize=2
        )
        ax.set_xticks(x, labels, fontsize="x-small", rotation=90 if len(groups) > 6 else 0)
        ax.set_title(title, fontsize="small")
    return fig
