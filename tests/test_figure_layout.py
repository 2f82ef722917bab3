"""Every figure is legible at its natural size: no text smaller than 8 points, none
outside the figure, for one configuration and for the main study's 18."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

import shallownet as sn
from shallownet import figures
from shallownet.network import Array
from shallownet.report import figures as report_figures

MAIN_STUDY = {  # the keys and values of experiment=main, as the report groups them
    "data": ["flower", "many_features"],
    "init": ["zeros", "small", "large"],
    "activation": ["sigmoid", "tanh", "relu"],
}


def drawn_texts(fig: Figure) -> list[Text]:
    """The texts a figure draws: titles, axis and tick labels in view, legends, notes."""
    fig.canvas.draw()
    texts: list[Text] = [*fig.texts, *(t for legend in fig.legends for t in legend.get_texts())]
    for ax in fig.axes:
        assert isinstance(ax, Axes)
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():
            # the ticks drawn: those in view, as matplotlib's own drawing picks them
            ticks = axis._update_ticks() if axis.get_visible() else []  # type: ignore[union-attr]
            texts += [label for tick in ticks for label in (tick.label1, tick.label2)]
        texts += [*ax.texts, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text()]
        if (legend := ax.get_legend()) is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def illegible(fig: Figure) -> list[str]:
    """What a reader cannot read: text under 8 points, text not wholly inside."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = fig.bbox.width, fig.bbox.height
    found = []
    for text in drawn_texts(fig):
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            found.append(f"outside: {text.get_text()!r} at {box.bounds} of {width}x{height}")
        if float(text.get_fontsize()) < 8:
            found.append(f"{text.get_fontsize():.1f} pt: {text.get_text()!r}")
    return found


def _frames(keys: dict[str, list[str]], seeds: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A report's per-run table and cost curves for every configuration of ``keys``."""
    rng = np.random.default_rng(0)
    rows, curves = [], []
    for n, values in enumerate(itertools.product(*keys.values(), range(seeds))):
        run_id = f"run{n}"
        *config, seed = values
        final = float(rng.uniform(0.02, 0.7))
        rows.append(
            {
                "run_id": run_id,
                **dict(zip(keys, config, strict=True)),
                "seed": seed,
                "status": "FINISHED",
                "final_cost": final,
                "distinct_units": 4.0,
                "sat_frac_init": float(rng.uniform(0, 0.8)),
            }
        )
        steps = np.arange(0, 10_000, 100)
        cost = final + (0.69 - final) * np.exp(-steps / 800)
        curves += [
            {"run_id": run_id, "step": s, "value": c} for s, c in zip(steps, cost, strict=True)
        ]
    return pd.DataFrame(rows), pd.DataFrame(curves)


@pytest.mark.parametrize("keys", [{"init": ["small"]}, MAIN_STUDY], ids=["1 group", "18 groups"])
def test_the_reports_figures_are_legible(keys: dict[str, list[str]]) -> None:
    table, curves = _frames(keys)
    by = list(keys)
    for name, fig in {
        "cost_grid": report_figures.cost_grid(table, curves, by),
        "summary_chart": report_figures.summary_chart(table, by),
    }.items():
        assert illegible(fig) == [], name
        width, height = fig.bbox.width, fig.bbox.height
        assert 300 <= width <= 1800, (name, width)  # a size that suits a screen
        assert 220 <= height <= 1000, (name, height)


def test_the_layer_grid_is_legible() -> None:
    table, _ = _frames({"init": ["xavier", "standard"], "activation": ["tanh", "sigmoid"]}, 1)
    layers = pd.DataFrame(
        [
            {"run_id": run, "layer": layer, "step": step, "mean": 0.1 * layer, "std": 0.5 / layer}
            for run in table["run_id"]
            for layer in (1, 2, 3)
            for step in (0, 10, 100, 1000)
        ]
    )
    assert illegible(report_figures.layer_grid(table, layers, ["init", "activation"])) == []


LONG = "data=many_features,init=large,activation=sigmoid,seed=2,train.iterations=10000"


@pytest.mark.parametrize("inputs", [2, 50])
def test_a_runs_figures_are_legible_with_its_long_name(inputs: int) -> None:
    X, Y = sn.datasets.load("gaussian_quantiles", n_samples=200, n_features=inputs, seed=1)
    net = sn.Network(n_x=inputs, hidden=[4], activation="tanh", init="normal", seed=0)
    initial = net.copy()
    hist = sn.train(net, X, Y, learning_rate=0.5, iterations=50)
    drawn = {
        "cost_curve": figures.cost_curve(hist, LONG),
        "decision_boundary": figures.decision_boundary(net, X, Y, LONG),
        "hidden_weights": figures.hidden_weights(net, LONG),
        "activation_histogram": figures.activation_histogram(initial, X, LONG + " (at init)"),
    }
    for name, fig in drawn.items():
        assert illegible(fig) == [], name
    boundary = drawn["decision_boundary"].axes[0]
    if inputs > 2:  # a slice of 50 inputs says it is one
        assert boundary.get_xlabel() == "input 1 (slice: inputs 3 to 50 at 0)"
    else:
        assert boundary.get_xlabel() == ""


def test_a_deep_runs_layer_distributions_are_legible(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    net = sn.Network(n_x=2, hidden=[10, 5, 5], activation="tanh", init="xavier", seed=0)
    initial = net.copy()
    sn.train(net, X, Y, learning_rate=0.5, iterations=20)
    assert illegible(figures.layer_distributions(initial, net, X, Y, LONG)) == []


def test_computation_graphs_drawn_by_matplotlib_are_legible(flower: tuple[Array, Array]) -> None:
    from shallownet.graph import Var, network_graph
    from shallownet.graph_figure import _matplotlib

    a, b, c = Var(5.0, label="a"), Var(3.0, label="b"), Var(2.0, label="c")
    J = 3 * (a + b * c)
    J.backward()
    assert illegible(_matplotlib(J, "LR")) == []
    X, Y = flower
    net = sn.Network(n_x=2, hidden=[4], activation="tanh", init="normal", seed=2)
    cost, _ = network_graph(net, X[:, :20], Y[:, :20])
    assert illegible(_matplotlib(cost, "TB")) == []
