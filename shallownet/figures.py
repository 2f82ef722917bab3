"""Figures of one run, drawn with matplotlib's object API on the Agg canvas.

No pyplot: no global figure state, no GUI backend, safe in worker processes.
Each function returns a :class:`matplotlib.figure.Figure`; :func:`save_run_figures`
writes the PNGs a tracked run carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogFormatter

from .network import Array, Network
from .train import History

DPI = 100  # 8-point text is 11 pixels high


def new_figure(
    width: float = 5.0, height: float = 3.6, right: float = 0.25, left: float = 0.8
) -> Figure:
    """An empty figure on the Agg canvas (no pyplot, no global state).

    Margins are fixed in inches (``right`` leaves room for a colorbar or a twin
    axis): a layout engine costs more than drawing these small figures.
    """
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=0.55 / height, top=1 - 0.4 / height
    )
    FigureCanvasAgg(fig)
    return fig


def set_title(ax: Axes, title: str) -> None:
    """A title that fits its figure's width: a run's long name is broken after its
    commas onto as many lines as it needs, and the figure's top margin grows to hold
    them."""
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    width, height = fig.get_size_inches()
    inches = ax.get_position().width * width + 0.5  # over its axes, a little beyond
    per_line = max(12, int(inches * 72 / (0.6 * 10)))  # characters of 10-point text
    lines: list[str] = []
    for part in title.split(","):
        if lines and len(lines[-1]) + 1 + len(part) <= per_line:
            lines[-1] += "," + part
        else:
            lines.append(part)
    ax.set_title(",\n".join(lines), fontsize="medium")
    needed = 0.22 + 0.18 * len(lines)  # inches above the axes
    above, below = (1 - fig.subplotpars.top) * height, fig.subplotpars.bottom * height
    if needed > above:  # a taller figure, the axes as tall as before
        height += needed - above
        fig.set_size_inches(width, height)
        fig.subplots_adjust(top=1 - needed / height, bottom=below / height)


def legend_beside(ax: Axes, *handles_and_labels: Any) -> None:
    """The legend to the right of ``ax``, outside it (the figure leaves room on the right:
    ``new_figure(right=...)``), so that it covers no curve or bar. Optional arguments are
    ``Axes.legend``'s: handles and their labels."""
    ax.legend(
        *handles_and_labels,
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.03, 1.0),
        frameon=False,
    )


def cost_axis(ax: Axes) -> None:
    """A log-scale cost axis over steps, with ln 2 (a network that learned nothing) marked."""
    ax.axhline(np.log(2), color="grey", ls=":", lw=1, label="ln 2 (chance)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    # minor ticks labelled only where the axis spans a decade or less (else they collide)
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    ax.set_xlabel("step")


def cost_curve(history: History, title: str = "") -> Figure:
    """Cost per step (log scale): plateaus show symmetry or saturation."""
    fig = new_figure()
    ax = fig.add_subplot()
    # ~1000 points are more than the figure has pixels; drawing all 10,000 costs 4x the time
    n = len(history.cost)
    steps = np.unique(np.r_[np.arange(0, n, max(1, n // 1000)), n - 1]) if n else np.arange(0)
    ax.plot(steps, history.cost[steps], lw=1.2)
    cost_axis(ax)
    ax.set_ylabel("cost")
    set_title(ax, title or "cost")
    if history.diverged_at is not None:
        ax.axvline(
            history.diverged_at, color="red", lw=1, label=f"diverged at {history.diverged_at}"
        )
    ax.legend(loc="upper right", fontsize="small")
    return fig


def decision_boundary(net: Network, X: Array, Y: Array, title: str = "") -> Figure:
    """The classifier's regions over its two inputs, with the data. With more inputs,
    a slice: the regions over the first two, every other input at 0 (the mean of
    standardized data), labelled as such."""
    fig = new_figure(4.2, 4.0)
    ax = fig.add_subplot()
    x0, x1 = X[0], X[1] if X.shape[0] > 1 else np.zeros_like(X[0])
    pad0, pad1 = 0.1 * np.ptp(x0) + 0.5, 0.1 * np.ptp(x1) + 0.5
    g0, g1 = np.meshgrid(
        np.linspace(x0.min() - pad0, x0.max() + pad0, 120),
        np.linspace(x1.min() - pad1, x1.max() + pad1, 120),
    )
    grid = np.zeros((net.n_x, g0.size), dtype=net.dtype)
    grid[0] = g0.ravel()
    if net.n_x > 1:
        grid[1] = g1.ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        P = net.predict(grid).reshape(g0.shape)
    ax.contourf(g0, g1, P, levels=[-0.5, 0.5, 1.5], colors=["#f4a582", "#92c5de"], alpha=0.8)
    ax.scatter(x0, x1, c=Y[0], cmap="RdBu", s=8, edgecolors="k", linewidths=0.2)
    set_title(ax, title or "decision boundary")
    ax.set_xticks([])
    ax.set_yticks([])
    if net.n_x > 2:
        ax.set_xlabel(f"input 1 (slice: inputs 3 to {net.n_x} at 0)")
        ax.set_ylabel("input 2")
    return fig


def hidden_weights(net: Network, title: str = "") -> Figure:
    """Incoming weights and bias of each first-layer hidden unit: identical rows = symmetry."""
    W1, b1 = net.params["W1"], net.params["b1"]
    U = np.concatenate([W1, b1], axis=1)
    fig = new_figure(4.5, 1.3 + 0.28 * min(U.shape[0], 50), right=1.0)
    ax = fig.add_subplot()
    limit = float(np.abs(U).max()) or 1.0
    image = ax.imshow(U[:50], cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    inputs = W1.shape[1]
    shown = [*range(0, inputs, max(1, -(-inputs // 5))), inputs]  # at most 6 labels
    ax.set_xticks(shown, [*(f"w{i + 1}" for i in shown[:-1]), "b"])
    ax.set_ylabel("hidden unit")
    set_title(ax, title or "hidden-unit incoming weights")
    fig.colorbar(image, ax=ax)
    return fig


def activation_histogram(net: Network, X: Array, title: str = "") -> Figure:
    """Histogram of first-layer pre-activations Z1 over the activation g(z): mass in the
    flat tails means saturated units and vanishing gradients."""
    Z1 = (net.params["W1"] @ X + net.params["b1"]).ravel()
    fig = new_figure()
    ax = fig.add_subplot()
    finite = Z1[np.isfinite(Z1)]
    reach = max(4.0, float(np.percentile(np.abs(finite), 99))) if finite.size else 4.0
    counts, edges = np.histogram(np.clip(finite, -reach, reach), bins=60)
    peak = max(int(counts.max()), 1) if counts.size else 1
    # One axis for both: the histogram scaled to a peak of 1, beside g and g' (same z axis)
    ax.stairs(
        counts / peak, edges, fill=True, color="#4393c3", alpha=0.6, label=f"z (peak {peak})"
    )
    z = np.linspace(-reach, reach, 400)
    a = net.g(z)
    ax.plot(z, np.clip(a, -1.5, 1.5), color="#b2182b", lw=1.5, label=f"g = {net.activation}")
    ax.plot(z, np.clip(net.g.grad(z, a), -1.5, 1.5), color="#b2182b", lw=1, ls="--", label="g'")
    ax.set_xlabel("z = W1 x + b1")
    ax.set_ylabel("share of peak count / g(z)")
    ax.legend(loc="upper left", fontsize="small")
    set_title(ax, title or "hidden pre-activations")
    return fig


LAYER_COLOURS = ["#2166ac", "#1b7837", "#e08214", "#b2182b", "#762a83", "#35978f", "#8c510a"]


def _layer_histograms(ax: Axes, values: list[Array], names: list[str], title: str) -> None:
    """Overlaid histograms of each layer's values, normalized to a peak of 1, on one
    shared range: narrower peaks layer after layer mean shrinking signals."""
    finite = [v[np.isfinite(v)] for v in values]
    present = [v for v in finite if v.size]
    low = min((float(np.percentile(v, 0.5)) for v in present), default=-1.0)
    high = max((float(np.percentile(v, 99.5)) for v in present), default=1.0)
    if high - low < 1e-12:  # every value the same (zero weights): a window around it
        low, high = low - 1.0, high + 1.0
    edges = np.linspace(low, high, 61)
    for i, (v, name) in enumerate(zip(finite, names, strict=True)):
        counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
        peak = max(int(counts.max()), 1)
        colour = LAYER_COLOURS[i % len(LAYER_COLOURS)]
        ax.stairs(counts / peak, edges, color=colour, lw=1.3, label=name)
    ax.set_title(title, fontsize="medium")
    ax.set_yticks([])


def layer_distributions(
    initial: Network, net: Network, X: Array, Y: Array, title: str = ""
) -> Figure:
    """Per hidden layer, in the spirit of Glorot & Bengio 2010 (Figures 6-8): the
    activation values at initialization and after training, and the weight gradients
    at initialization. With the old standard init and tanh, the activations narrow
    layer after layer; with Xavier they keep their spread."""
    hidden = range(1, net.L)
    names = [f"layer {l}" for l in hidden]
    with np.errstate(over="ignore", invalid="ignore"):  # a run that diverged overflows
        _, A0 = initial.forward(X)
        _, A1 = net.forward(X)
        grads = initial.gradients(X, Y)
    fig = new_figure(12.0, 3.6, right=1.2)
    fig.subplots_adjust(top=1 - 0.7 / 3.6)  # room for the title above the panels' own
    axes = fig.subplots(1, 3)
    _layer_histograms(axes[0], [A0[l].ravel() for l in hidden], names, "activations at init")
    _layer_histograms(axes[1], [A1[l].ravel() for l in hidden], names, "activations, trained")
    _layer_histograms(
        axes[2], [grads[f"dW{l}"].ravel() for l in hidden], names, "weight gradients at init"
    )
    axes[0].set_xlabel(f"g(z), g = {net.activation}")
    axes[1].set_xlabel(f"g(z), g = {net.activation}")
    axes[2].set_xlabel("dJ/dW")
    axes[2].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    axes[2].locator_params(axis="x", nbins=5)
    legend_beside(axes[2])
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def save_run_figures(
    folder: Path,
    net: Network,
    initial: Network,
    history: History,
    X: Array,
    Y: Array,
    title: str = "",
) -> list[Path]:
    """Write cost_curve, decision_boundary, hidden_weights and activation_histogram PNGs,
    and for a network of several hidden layers layer_distributions.png.

    The weights figure shows the trained network; the histogram shows the network
    at initialization, where saturation decides whether training can start.
    """
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "cost_curve.png": cost_curve(history, title),
        "decision_boundary.png": decision_boundary(net, X, Y, title),
        "hidden_weights.png": hidden_weights(net, title),
        "activation_histogram.png": activation_histogram(initial, X, f"{title} (at init)"),
    }
    if net.L > 2:  # several hidden layers: how their signals compare
        figures["layer_distributions.png"] = layer_distributions(initial, net, X, Y, title)
    paths = []
    for name, fig in figures.items():
        path = folder / name
        fig.savefig(path)
        paths.append(path)
    return paths
