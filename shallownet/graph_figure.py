"""Drawing a computation graph: every node with its value and its gradient.

Inputs stand on the left and the output on the right, so the forward pass
reads left to right and backpropagation right to left. Graphviz draws the
graph when its ``dot`` program and the ``graphviz`` Python package are both
installed (Debian: ``apt-get install graphviz``); otherwise a plain matplotlib
layout (a column per depth) does, so a picture is always possible::

    from shallownet.graph import Var
    from shallownet.graph_figure import render

    a, b, c = Var(5.0, label="a"), Var(3.0, label="b"), Var(2.0, label="c")
    J = 3 * (a + b * c)
    J.backward()
    render(J, "graph.png")        # or .svg
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from matplotlib.figure import Figure

from .figures import new_figure
from .graph import Var, describe

FORMATS = ("png", "svg")
ENGINES = ("graphviz", "matplotlib")
DIRECTIONS = ("LR", "TB")


def graphviz_available() -> bool:
    """Both Graphviz's ``dot`` program and the ``graphviz`` Python package are installed."""
    return shutil.which("dot") is not None and importlib.util.find_spec("graphviz") is not None


def render(
    output: Var, path: str | Path, engine: str | None = None, direction: str = "LR"
) -> Path:
    """Draw the graph that computed ``output`` (after ``backward()``, gradients included).

    Parameters
    ----------
    output : Var
        The graph's output, e.g. the cost J.
    path : str or Path
        Where to write; the suffix (``.png`` or ``.svg``) chooses the format.
    engine : "graphviz", "matplotlib" or None
        None: Graphviz where it is installed, else matplotlib.
    direction : "LR" or "TB"
        Inputs on the left (a short chain like J = 3(a + bc)) or at the top (a
        long one, like a network's cost).
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        msg = f"path={str(path)!r} is invalid: the suffix must be one of .png, .svg"
        raise ValueError(msg)
    engine = engine or ("graphviz" if graphviz_available() else "matplotlib")
    if engine not in ENGINES:
        msg = f"engine={engine!r} is invalid: choose graphviz or matplotlib"
        raise ValueError(msg)
    if direction not in DIRECTIONS:
        msg = f"direction={direction!r} is invalid: choose LR or TB"
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine == "graphviz":
        import graphviz

        path.write_bytes(graphviz.Source(output.to_dot(direction)).pipe(format=fmt))
    else:
        _matplotlib(output, direction).savefig(path, format=fmt)
    return path


def _text(node: Var) -> str:
    name = " ".join(part for part in (node.label, f"({node.op})" if node.op else "") if part)
    return f"{name or 'constant'}\nvalue {describe(node.value)}\ngrad {describe(node.grad)}"


def _matplotlib(output: Var, direction: str) -> Figure:
    """Layers by depth (longest path from an input); arrows from each input to its use."""
    order = output.topological_order()
    depth: dict[int, int] = {}
    for node in order:  # parents come first
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents), default=-1)
    first_use: dict[int, int] = {}
    for node in order:
        for parent in node.parents:
            if not parent.parents:
                first_use[id(parent)] = min(
                    first_use.get(id(parent), depth[id(node)]), depth[id(node)]
                )
    for key, use in first_use.items():  # an input stands just before its first use
        depth[key] = use - 1
    columns: dict[int, list[Var]] = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    layers, across = len(columns), max(len(nodes) for nodes in columns.values())
    # (layer, position within the layer) -> (x, y): layers left to right, or top to bottom
    where: dict[int, tuple[float, float]] = {
        id(node): (float(d), (len(nodes) - 1) / 2 - k)
        for d, nodes in columns.items()
        for k, node in enumerate(nodes)
    }
    if direction == "TB":
        where = {key: (-along, -d) for key, (d, along) in where.items()}
        fig = new_figure(width=2.7 * across + 0.4, height=1.1 * layers + 0.4)
        limits = ((-across / 2, across / 2), (-layers + 0.5, 0.5))
    else:
        fig = new_figure(width=2.3 * layers + 0.4, height=1.15 * across + 0.4)
        limits = ((-0.55, layers - 0.45), (-across / 2, across / 2))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    for node in order:
        for parent in node.parents:
            ax.annotate(
                "",
                xy=where[id(node)],
                xytext=where[id(parent)],
                arrowprops={"arrowstyle": "->", "color": "0.55", "shrinkA": 22, "shrinkB": 22},
            )
    for node in order:
        x, y = where[id(node)]
        ax.text(
            x,
            y,
            _text(node),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.3", "fc": "#eef3fb" if node.label else "white"},
        )
    return fig
