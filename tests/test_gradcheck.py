"""The backward pass against central differences and against the computation graph,
for every registered activation and initializer."""

from __future__ import annotations

import numpy as np
import pytest

import shallownet as sn
from shallownet.graph import Var, network_cost, variables
from shallownet.network import Array


def _smooth_init(name: str) -> str:
    # zeros gives symmetric units whose gradients are exactly zero: nothing to compare
    return "normal" if name == "zeros" else name


@pytest.mark.parametrize("activation", sn.activations.names())
@pytest.mark.parametrize("hidden", [[4], [10, 5]])
def test_backward_matches_central_differences(
    activation: str, hidden: list[int], small_data: tuple[Array, Array]
) -> None:
    X, Y = small_data
    net = sn.Network(2, hidden, activation, "normal", {"scale": 0.5}, seed=3)
    assert sn.gradient_check(net, X, Y) < 1e-6


@pytest.mark.parametrize("init", sn.initializers.names())
def test_backward_matches_for_every_initializer(
    init: str, small_data: tuple[Array, Array]
) -> None:
    X, Y = small_data
    init = _smooth_init(init)
    # large enough weights that the gradients dwarf the finite-difference error
    params = {"scale": 0.5} if "scale" in sn.initializers.parameters(init) else {}
    net = sn.Network(2, [4], "tanh", init, params, seed=5)
    assert sn.gradient_check(net, X, Y) < 1e-6


def test_gradient_check_catches_a_wrong_backward(small_data: tuple[Array, Array]) -> None:
    X, Y = small_data
    sn.activations.register(
        "tanh_wrong", sn.Activation(forward=np.tanh, derivative=lambda z, a: 1 - a)
    )
    net = sn.Network(2, [4], "tanh_wrong", "normal", {"scale": 1.0}, seed=0)
    assert sn.gradient_check(net, X, Y) > 1e-3


@pytest.mark.parametrize("activation", sn.activations.names())
@pytest.mark.parametrize("hidden", [[4], [10, 5]])
def test_backward_matches_the_computation_graph(
    activation: str, hidden: list[int], small_data: tuple[Array, Array]
) -> None:
    X, Y = small_data
    net = sn.Network(2, hidden, activation, "normal", {"scale": 0.5}, seed=4)
    g = net.g
    leaves = variables(net.params)
    J = network_cost(leaves, X, Y, lambda z: z.apply(g, g.grad, activation))
    J.backward()
    assert J.value == pytest.approx(net.cost(X, Y), rel=1e-10)
    for key, value in net.gradients(X, Y).items():
        np.testing.assert_allclose(leaves[key[1:]].grad, value, rtol=1e-8, atol=1e-12)


NATIVE = {"tanh": Var.tanh, "sigmoid": Var.sigmoid, "relu": Var.relu, "identity": lambda z: z}


@pytest.mark.parametrize("activation", sorted(NATIVE))
def test_backward_matches_graph_built_from_primitive_ops(
    activation: str, small_data: tuple[Array, Array]
) -> None:
    """Here the graph knows nothing of the plugin: its derivative comes from the graph's own rules."""
    X, Y = small_data
    net = sn.Network(2, [10, 5], activation, "normal", {"scale": 0.5}, seed=6)
    leaves = variables(net.params)
    J = network_cost(leaves, X, Y, NATIVE[activation])
    J.backward()
    for key, value in net.gradients(X, Y).items():
        np.testing.assert_allclose(leaves[key[1:]].grad, value, rtol=1e-8, atol=1e-12)
