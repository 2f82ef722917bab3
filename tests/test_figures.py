"""Figures of one run, drawn from real networks (warnings are errors in tests)."""

from __future__ import annotations

import shallownet as sn
from shallownet.figures import layer_distributions
from shallownet.network import Array


def test_layer_distributions_show_each_layer(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    net = sn.Network(2, [6, 5, 4], "tanh", "xavier", seed=0)
    initial = net.copy()
    sn.train(net, X, Y, 0.5, 50)
    fig = layer_distributions(initial, net, X, Y, "init=xavier")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["activations at init", "activations, trained", "weight gradients at init"]
    for ax in fig.axes:
        assert len(ax.patches) == 3  # one histogram per hidden layer
    legend = fig.axes[2].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["layer 1", "layer 2", "layer 3"]
    # tanh activations lie in (-1, 1): every histogram stays inside that range
    for ax in fig.axes[:2]:
        low, high = ax.get_xlim()
        assert -1.2 < low < high < 1.2


def test_layer_distributions_of_a_diverged_run_draw_without_warnings(
    flower: tuple[Array, Array],
) -> None:
    X, Y = flower
    net = sn.Network(2, [5, 5], "identity", "normal", {"scale": 10.0}, seed=0)
    initial = net.copy()
    history = sn.train(net, X, Y, 1e3, 300)
    assert history.status == "FAILED"
    fig = layer_distributions(initial, net, X, Y)
    assert len(fig.axes[0].patches) == 2
