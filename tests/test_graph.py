"""The computation graph: the chain-rule example and each operation's backward rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import shallownet as sn
from shallownet.graph import Var, network_graph
from shallownet.network import Array


def test_course_chain_rule_example() -> None:
    a, b, c = Var(5.0, label="a"), Var(3.0, label="b"), Var(2.0, label="c")
    u = b * c  # u = 6
    v = a + u  # v = 11
    J = 3 * v  # J = 33
    J.backward()
    assert J.value == 33.0
    # dJ/dv = 3; dJ/da = dJ/dv * dv/da = 3; dJ/db = 3 * dv/du * du/db = 3 * c = 6; dJ/dc = 3 * b = 9
    assert (v.grad, a.grad, b.grad, c.grad) == (3.0, 3.0, 6.0, 9.0)


def test_a_node_used_twice_accumulates() -> None:
    x = Var(3.0)
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.backward()
    assert x.grad == 7.0


def test_backward_twice_gives_the_same_gradients() -> None:
    x = Var(2.0)
    y = x**3  # dy/dx = 12
    y.backward()
    y.backward()
    assert x.grad == 12.0


UNARY: list[tuple[str, Callable[[Var], Var]]] = [
    ("exp", Var.exp),
    ("log", Var.log),
    ("tanh", Var.tanh),
    ("sigmoid", Var.sigmoid),
    ("relu", Var.relu),
    ("square", lambda v: v**2),
    ("reciprocal", lambda v: 1 / v),
    ("neg-sub", lambda v: 2 - v),
    ("div", lambda v: v / 4),
]


@pytest.mark.parametrize(("name", "fn"), UNARY)
def test_unary_rules_match_central_differences(name: str, fn: Callable[[Var], Var]) -> None:
    x0 = np.array([[0.3, 1.2, 2.5], [0.7, 1.9, 0.2]])
    x = Var(x0.copy())
    fn(x).sum().backward()
    h = 1e-6
    numeric = (fn(Var(x0 + h)).value - fn(Var(x0 - h)).value) / (2 * h)
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-6, atol=1e-8)


def test_matmul_and_broadcast_add_match_central_differences() -> None:
    rng = np.random.default_rng(0)
    W0, X0, b0 = rng.normal(size=(3, 2)), rng.normal(size=(2, 5)), rng.normal(size=(3, 1))

    def f(W: np.ndarray, b: np.ndarray) -> float:
        return float(np.tanh(W @ X0 + b).mean())

    W, b = Var(W0.copy()), Var(b0.copy())
    ((W @ X0) + b).tanh().mean().backward()
    assert b.grad.shape == (3, 1)  # summed over the broadcast examples axis
    h = 1e-6
    for theta, grad, is_W in ((W0, W.grad, True), (b0, b.grad, False)):
        numeric = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            plus, minus = theta.copy(), theta.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = (plus, b0) if is_W else (W0, plus)
            args_m = (minus, b0) if is_W else (W0, minus)
            numeric[idx] = (f(*args_p) - f(*args_m)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_backward_needs_a_scalar() -> None:
    with pytest.raises(
        ValueError, match=r"backward\(\) starts from a scalar output, got shape \(2,\)"
    ):
        Var(np.ones(2)).backward()


def test_repr_and_dot() -> None:
    a, b = Var(2.0, label="a"), Var(4.0, label="b")
    J = a * b
    J.backward()
    assert repr(a) == "Var(a: value=2.0, grad=4.0)"
    dot = J.to_dot()
    assert dot.startswith("digraph G {")
    assert 'label="*"' in dot
    assert "a | value 2 | grad 4" in dot
    assert "value (2, 3) norm 2.449" in Var(np.ones((2, 3))).to_dot()  # arrays: shape and size
    assert dot.count("->") == 3  # a -> *, b -> *, * -> J


def test_the_network_as_a_graph_gives_the_backward_pass(flower: tuple[Array, Array]) -> None:
    """J built from Z1, A1, Z2, A2 node by node; its chain rule gives net.gradients."""
    X, Y = flower
    net = sn.Network(2, [4], "tanh", "normal", {"scale": 0.5}, seed=2)
    J, params = network_graph(net, X, Y)
    assert J.value == pytest.approx(net.cost(X, Y), rel=1e-12)
    for key, grad in net.gradients(X, Y).items():  # dW1, db1, dW2, db2
        np.testing.assert_allclose(params[key[1:]].grad, grad, rtol=1e-12, atol=1e-12)
    labels = {node.label: node for node in J.topological_order() if node.label}
    assert {"X", "W1", "b1", "Z1", "A1", "W2", "b2", "Z2", "A2", "J"} <= set(labels)
    assert (labels["Z1"].shape, labels["A2"].shape, labels["J"].shape) == ((4, 400), (1, 400), ())
    # dZ2 = A2 - Y, averaged over the m examples, is what reaches Z2 from J
    dZ2 = (labels["A2"].value - Y) / X.shape[1]
    np.testing.assert_allclose(labels["Z2"].grad, dZ2, rtol=1e-9, atol=1e-15)
