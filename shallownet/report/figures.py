"""Figures of a sweep: a grid of cost curves and a symmetry/saturation summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter

from ..figures import LAYER_COLOURS, cost_axis, legend_beside, new_figure
from .tables import configurations, spread

COLORS = ["#2166ac", "#b2182b", "#1b7837", "#762a83", "#e08214", "#35978f", "#8c510a", "#c51b7d"]


def _label(keys: list[str], values: tuple[object, ...]) -> str:
    pairs = zip(keys, values, strict=True)
    return ", ".join(f"{k}={v}" for k, v in pairs) or "all runs"


def cost_grid(table: pd.DataFrame, curves: pd.DataFrame, by: list[str]) -> Figure:
    """One panel per value of the last swept key, one line per value of the others:
    the median cost over seeds, with the min–max band."""
    panel_key = by[-1:] if len(by) >= 2 else []
    line_keys = by[:-1] if len(by) >= 2 else by
    panels = configurations(table, panel_key)
    names = [_label(line_keys, values) for values, _ in configurations(table, line_keys)]
    legend = _legend_width(names)
    fig = new_figure(4.2 * len(panels) + legend, 3.8, right=legend + 0.25, left=1.05)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (panel_value, panel) in zip(axes, panels, strict=True):
        for i, (line_values, group) in enumerate(configurations(panel, line_keys)):
            wide = curves[curves["run_id"].isin(group["run_id"])].pivot_table(
                index="step", columns="run_id", values="value"
            )
            if wide.empty:
                continue
            color = COLORS[i % len(COLORS)]
            ax.plot(
                wide.index,
                wide.median(axis=1),
                color=color,
                lw=1.4,
                label=_label(line_keys, line_values),
            )
            ax.fill_between(
                wide.index, wide.min(axis=1), wide.max(axis=1), color=color, alpha=0.18, lw=0
            )
        cost_axis(ax)
        ax.set_title(_label(panel_key, panel_value) if panel_key else "cost", fontsize="medium")
    low = float(curves["value"].min()) if len(curves) else 0.1
    if len(curves) and curves["value"].max() > 1.0:  # huge first costs would flatten the rest
        axes[0].set_ylim(max(low * 0.9, 1e-3), 1.0)
        axes[0].set_ylabel("cost (median, min–max over seeds;\nclipped at 1)")
    else:
        axes[0].set_ylabel("cost (median, min–max over seeds)")
    legend_beside(axes[-1])  # beside the panels, not over the curves of the last one
    return fig


def _legend_width(names: list[str]) -> float:
    """Inches a legend of these names needs beside the axes (small font)."""
    return 0.6 + 0.068 * max((len(name) for name in names), default=0)


def summary_chart(table: pd.DataFrame, by: list[str]) -> Figure:
    """Per configuration, a row: distinct hidden units at the end (symmetry), saturated
    fraction at initialization (saturation) and final cost; bars are medians over the
    seeds, whiskers min–max. Rows are labelled once, on the left, in full."""
    configs = configurations(table, by)
    labels = [" · ".join(map(str, values)) or "all runs" for values, _ in configs]
    # a bar's colour is its value of the first key (init), named in the legend
    colour_key = by[:1]
    shades = {
        values: COLORS[i % len(COLORS)]
        for i, (values, _) in enumerate(configurations(table, colour_key))
    }
    bar_colours = [shades[values[:1]] for values, _ in configs]
    names = [_label(colour_key, values) for values in shades]
    legend = _legend_width(names)
    left = 0.35 + 0.075 * max((len(label) for label in labels), default=8)  # inches
    height = 1.25 + 0.24 * max(len(configs), 5)
    fig = new_figure(left + 3 * 2.9 + legend, height, right=legend + 0.25, left=left)
    fig.subplots_adjust(wspace=0.12, bottom=0.6 / height, top=1 - 0.45 / height)
    axes = fig.subplots(1, 3, sharey=True)
    y = np.arange(len(configs))
    for ax, (column, title) in zip(
        axes,
        [
            ("distinct_units", "distinct hidden units (end)"),
            ("sat_frac_init", "saturated fraction (init)"),
            ("final_cost", "final cost"),
        ],
        strict=True,
    ):
        med, low, high = np.array([spread(g[column]) for _, g in configs], dtype=float).T
        ax.barh(y, np.nan_to_num(med), color=bar_colours, alpha=0.8, height=0.7)
        whiskers = np.vstack([med - low, high - med])  # one array (2, n), as matplotlib wants
        ax.errorbar(med, y, xerr=whiskers, fmt="none", ecolor="k", lw=0.8, capsize=2)
        ax.set_title(title, fontsize="medium")
        ax.grid(axis="x", lw=0.4, alpha=0.5)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()  # the first configuration on top, as in the table
    axes[0].set_ylabel(" · ".join(by))
    handles = [Patch(color=colour, alpha=0.8) for colour in shades.values()]
    legend_beside(axes[-1], handles, names)
    return fig


def layer_grid(table: pd.DataFrame, layers: pd.DataFrame, by: list[str]) -> Figure:
    """Per configuration (rows: the first key's values, columns: the others'), each hidden
    layer's activations over training for one run: the mean, with a band of ± one
    standard deviation (Glorot & Bengio 2010, Figures 2-3). Bands that narrow layer after
    layer are signals that shrink with depth; a band pinned at a bound is saturation."""
    row_key, column_keys = by[:1], by[1:]
    rows = configurations(table, row_key)
    columns = [values for values, _ in configurations(table, column_keys)]
    n_layers = int(layers["layer"].max())
    names = [f"layer {l}" for l in range(1, n_layers + 1)]
    legend = _legend_width(names)
    fig = new_figure(
        3.3 * len(columns) + legend, 0.9 + 2.3 * len(rows), right=legend + 0.25, left=1.0
    )
    axes = fig.subplots(len(rows), len(columns), squeeze=False, sharex=True, sharey="row")
    for r, (row_values, row_runs) in enumerate(rows):
        for c, column_values in enumerate(columns):
            ax = axes[r][c]
            chosen = row_runs
            for key, value in zip(column_keys, column_values, strict=True):
                chosen = chosen[chosen[key] == value]
            curves = layers[layers["run_id"].isin(chosen["run_id"])]
            for l in range(1, n_layers + 1):
                layer = curves[curves["layer"] == l].sort_values("step")
                colour = LAYER_COLOURS[(l - 1) % len(LAYER_COLOURS)]
                ax.plot(layer["step"], layer["mean"], color=colour, lw=1.2, label=f"layer {l}")
                ax.fill_between(
                    layer["step"],
                    layer["mean"] - layer["std"],
                    layer["mean"] + layer["std"],
                    color=colour,
                    alpha=0.1,
                    lw=0,
                )
                for edge in (layer["mean"] - layer["std"], layer["mean"] + layer["std"]):
                    ax.plot(layer["step"], edge, color=colour, lw=0.6, alpha=0.7)
            # most of what changes, changes in the first hundred steps
            ax.set_xscale("symlog", linthresh=10)
            ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))  # 0, 10, 100, 1000
            ax.set_title(_label(by, (*row_values, *column_values)), fontsize="small")
            if r == len(rows) - 1:
                ax.set_xlabel("step")
        axes[r][0].set_ylabel("activation\n(mean ± std)")
    legend_beside(axes[0][-1])
    return fig
