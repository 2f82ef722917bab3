"""Drawing computation graphs: both renderers give a real image of the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

import shallownet as sn
from shallownet.graph import Var, network_graph
from shallownet.graph_figure import graphviz_available, render
from shallownet.network import Array

PNG = b"\x89PNG\r\n\x1a\n"


def _course_example() -> Var:
    a, b, c = Var(5.0, label="a"), Var(3.0, label="b"), Var(2.0, label="c")
    J = 3 * (a + b * c)
    J.label = "J"
    J.backward()
    return J


@pytest.mark.parametrize("engine", ["matplotlib", "graphviz"])
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_both_renderers_draw_the_course_example(engine: str, suffix: str, tmp_path: Path) -> None:
    if engine == "graphviz":
        assert graphviz_available(), "Graphviz is needed: apt-get install graphviz"
    path = render(_course_example(), tmp_path / f"J{suffix}", engine=engine)
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(PNG)
        assert len(data) > 2000
    else:
        text = data.decode()
        assert "<svg" in text
        if engine == "graphviz":  # text stays text: the numbers are in the file
            assert "value 33" in text
            assert "grad 9" in text


def test_the_network_graph_is_drawn(flower: tuple[Array, Array], tmp_path: Path) -> None:
    X, Y = flower
    J, _ = network_graph(sn.Network(2, [4], "tanh", seed=2), X, Y)
    svg = render(J, tmp_path / "network.svg", direction="TB").read_text()
    png = render(J, tmp_path / "network.png", engine="matplotlib", direction="TB").read_bytes()
    assert png.startswith(PNG)
    assert "<svg" in svg
    if graphviz_available():
        for node in ("Z1", "A1", "Z2", "A2", "J"):
            assert f">{node} " in svg or f">{node}<" in svg, node


def test_a_bad_path_or_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"the suffix must be one of \.png, \.svg"):
        render(_course_example(), tmp_path / "J.pdf")
    with pytest.raises(
        ValueError, match=r"engine='tikz' is invalid: choose graphviz or matplotlib"
    ):
        render(_course_example(), tmp_path / "J.png", engine="tikz")
    with pytest.raises(ValueError, match=r"direction='up' is invalid: choose LR or TB"):
        render(_course_example(), tmp_path / "J.png", direction="up")
