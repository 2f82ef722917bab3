"""Run a study and publish its result into experiments/<name>/.

    python experiments/publish.py symmetry [more names ...]

Runs ``shallownet -m experiment=<name>`` in a fresh folder (its own SQLite
store), then ``shallownet-report``, copies the table and figures here, and
replaces the block between the result markers of the study's README. The
numbers in the READMEs come only from here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
START, END = "<!-- result:start -->", "<!-- result:end -->"


def write_result(readme: Path, result: str) -> None:
    """Replace what stands between the result markers of a study README."""
    text = readme.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    readme.write_text(before + f"{START}\n{result}\n{END}" + after)


def publish(name: str) -> None:
    if name == "computation_graph":
        publish_computation_graph(HERE / name)
        return
    folder = HERE / name
    env = dict(os.environ)
    if name == "custom_plugins":
        env["SHALLOWNET_PLUGINS"] = str(HERE / "custom_plugins" / "plugins.py")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "shallownet"), "-m", f"experiment={name}"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
        out = Path(tmp) / "report"
        subprocess.run(
            [str(BIN / "shallownet-report"), "--out", str(out), "--no-attach"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        for png in ("cost_curves.png", "summary.png"):
            shutil.copy(out / png, folder / png)
        shutil.copy(out / "table.csv", folder / "table.csv")
        table = (out / "table.md").read_text()
        result = (
            f"Produced by `python experiments/publish.py {name}` on "
            f"{time.strftime('%Y-%m-%d')} ({seconds:.0f} s for the sweep); "
            f"medians over seeds with [min–max]:\n\n{table}\n"
            f"![cost curves](cost_curves.png)\n\n![symmetry and saturation](summary.png)"
        )
        if (out / "layers.md").exists():  # several hidden layers
            shutil.copy(out / "layers.csv", folder / "layers.csv")
            result += f"\n\nPer hidden layer:\n\n{(out / 'layers.md').read_text()}"
        if (out / "layers.png").exists():
            shutil.copy(out / "layers.png", folder / "layers.png")
            result += "\n![activations per layer over training](layers.png)"
    write_result(folder / "README.md", result)
    print(f"{name}: published ({seconds:.0f} s)")


def publish_computation_graph(folder: Path) -> None:
    """The graphs' figures, and one real step of the course network, node by node."""
    import numpy as np

    import shallownet as sn
    from shallownet.graph import Var, network_graph
    from shallownet.graph_figure import graphviz_available, render

    a, b, c = Var(5.0, label="a"), Var(3.0, label="b"), Var(2.0, label="c")
    u = b * c
    u.label = "u"
    v = a + u
    v.label = "v"
    J = 3 * v
    J.label = "J"
    J.backward()
    X, Y = sn.datasets.flower()
    net = sn.Network(2, [4], "tanh", "normal", {"scale": 0.01}, seed=2)
    cost, params = network_graph(net, X, Y)
    for suffix in (".png", ".svg"):
        render(J, folder / f"chain_rule{suffix}")
        render(cost, folder / f"network{suffix}", direction="TB")

    m = X.shape[1]
    node = {n.label: n for n in cost.topological_order() if n.label}
    W2 = net.params["W2"]
    A1, A2 = node["A1"].value, node["A2"].value
    dZ2 = A2 - Y  # the course's formulas, written out
    dZ1 = W2.T @ dZ2 * (1 - A1**2)
    course = {
        "Z2": ("dZ2 = A2 - Y", dZ2, node["Z2"].grad * m),
        "W2": ("dW2 = dZ2 A1ᵀ / m", dZ2 @ A1.T / m, params["W2"].grad),
        "b2": ("db2 = Σ dZ2 / m", dZ2.sum(axis=1, keepdims=True) / m, params["b2"].grad),
        "A1": ("W2ᵀ dZ2", W2.T @ dZ2, node["A1"].grad * m),
        "Z1": ("dZ1 = W2ᵀ dZ2 * (1 - A1²)", dZ1, node["Z1"].grad * m),
        "W1": ("dW1 = dZ1 Xᵀ / m", dZ1 @ X.T / m, params["W1"].grad),
        "b1": ("db1 = Σ dZ1 / m", dZ1.sum(axis=1, keepdims=True) / m, params["b1"].grad),
    }

    def norm(x: Any) -> str:
        return f"{float(np.linalg.norm(x)):.6g}"

    forward = [
        ("X", "the flower data", node["X"]),
        ("Z1", "W1 X + b1", node["Z1"]),
        ("A1", "tanh(Z1)", node["A1"]),
        ("Z2", "W2 A1 + b2", node["Z2"]),
        ("A2", "σ(Z2)", node["A2"]),
        ("J", "-mean(Y log A2 + (1 - Y) log(1 - A2))", node["J"]),
    ]
    lines = [
        f"Produced by `python experiments/publish.py computation_graph` on "
        f"{time.strftime('%Y-%m-%d')}, drawn with "
        f"{'Graphviz' if graphviz_available() else 'matplotlib'}.",
        "",
        "![J = 3(a + bc)](chain_rule.png)",
        "",
        f"Forward: u = bc = {u.value:g}, v = a + u = {v.value:g}, J = 3v = {J.value:g}. "
        f"Backward: dJ/dv = {v.grad:g}, dJ/du = {u.grad:g}, dJ/da = {a.grad:g}, "
        f"dJ/db = {b.grad:g}, dJ/dc = {c.grad:g}.",
        "",
        "The course network at step 0 (flower data, m = 400, n_h = 4, tanh, "
        "W = randn · 0.01 with seed 2): the forward pass, left to right.",
        "",
        "| node | computes | shape | value (norm; J itself) |",
        "|---|---|---|---|",
        *(
            f"| {name} | `{formula}` | {n.shape or '()'} | "
            f"{norm(n.value) if n.shape else f'{n.value:.6f}'} |"
            for name, formula, n in forward
        ),
        "",
        "The backward pass, right to left: the gradient the graph's chain rule delivered "
        "to each node (times m where the course's dZ leaves out the 1/m of the mean) "
        "next to the course's vectorized formula.",
        "",
        "| node | course formula | norm, from the graph | norm, from the formula | "
        "largest difference |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | `{formula}` | {norm(graph)} | {norm(by_formula)} | "
            f"{float(np.max(np.abs(graph - by_formula))):.1e} |"
            for name, (formula, by_formula, graph) in course.items()
        ),
        "",
        "![the network's graph](network.png)",
    ]
    write_result(folder / "README.md", "\n".join(lines))
    print("computation_graph: published")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+")
    for name in parser.parse_args().names:
        publish(name)


if __name__ == "__main__":
    main()
