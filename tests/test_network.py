"""The network: the course anchors, a hand-worked example, the stable cost, the batch axis."""

from __future__ import annotations

import math

import numpy as np
import pytest

import shallownet as sn
from shallownet.network import Array, backward, cost, forward

LN2 = 0.6931471805599453


def test_course_anchor_cost_and_accuracy(
    flower: tuple[Array, Array], register_course_init: str
) -> None:
    X, Y = flower
    net = sn.Network(n_x=2, hidden=[4], activation="tanh", init=register_course_init)
    # The course's printed initial parameters (seed 2): W1[0] = [-0.00416758, -0.00056267]
    np.testing.assert_allclose(net.params["W1"][0], [-0.00416758, -0.00056267], atol=1e-8)
    hist = sn.train(net, X, Y, learning_rate=1.2, iterations=10_000)
    assert round(float(hist.cost[0]), 6) == 0.693048
    assert 0.90 <= net.accuracy(X, Y) <= 0.91


def test_zeros_with_tanh_learns_nothing(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    net = sn.Network(n_x=2, hidden=[4], activation="tanh", init="zeros")
    hist = sn.train(net, X, Y, learning_rate=1.2, iterations=2_000)
    # tanh(0) = 0, so A1 = 0 and dW2 = dZ2 A1ᵀ / m = 0; dZ1 = W2ᵀ dZ2 * g' = 0:
    # nothing but b2 can move, and b2 = 0 is already optimal for balanced labels.
    np.testing.assert_allclose(hist.cost, LN2, rtol=0, atol=2e-16)
    assert sn.diagnostics.symmetry(net)["distinct_units"] == 1


def test_hand_worked_example() -> None:
    # One input, one identity hidden unit: W1 = 2, W2 = 3, biases 0, x = 1, y = 1.
    net = sn.Network(n_x=1, hidden=[1], activation="identity", init="zeros")
    net.params["W1"][:] = 2.0
    net.params["W2"][:] = 3.0
    X, Y = np.array([[1.0]]), np.array([[1.0]])
    Z, A = net.forward(X)
    assert Z[1].item() == 2.0  # Z1 = W1 x + b1 = 2
    assert Z[2].item() == 6.0  # Z2 = W2 A1 + b2 = 3 * 2 = 6
    a2 = 1 / (1 + math.exp(-6))  # A2 = σ(6) = 0.9975274
    assert A[2].item() == pytest.approx(a2, rel=1e-15)
    assert net.cost(X, Y) == pytest.approx(math.log1p(math.exp(-6)), rel=1e-12)  # -log σ(6)
    grads = net.gradients(X, Y)
    dz2 = a2 - 1  # dZ2 = A2 - Y = -0.0024726
    assert grads["dW2"].item() == pytest.approx(dz2 * 2)  # dZ2 A1ᵀ / m, A1 = 2
    assert grads["db2"].item() == pytest.approx(dz2)
    assert grads["dW1"].item() == pytest.approx(3 * dz2 * 1 * 1)  # W2ᵀ dZ2 * g'(Z1) * x
    assert grads["db1"].item() == pytest.approx(3 * dz2)


def test_cost_is_stable_and_equals_the_naive_formula() -> None:
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=5, size=(1, 50))
    Y = (rng.random((1, 50)) > 0.5).astype(float)
    A = 1 / (1 + np.exp(-Z))
    naive = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    assert cost(Z, Y) == pytest.approx(naive, rel=1e-12)
    huge = np.array([[800.0, -800.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        J = cost(huge, np.array([[0.0, 1.0]]))
    assert J == pytest.approx(800.0)  # both wrong with margin 800: log(1 + e^800) ≈ 800


@pytest.mark.parametrize("hidden", [[4], [10, 5], [3, 3, 3]])
def test_parameter_shapes(hidden: list[int]) -> None:
    net = sn.Network(n_x=2, hidden=hidden, activation="relu", init="he", seed=0)
    sizes = [2, *hidden, 1]
    assert sorted(net.params) == sorted(
        [f"W{l}" for l in range(1, len(sizes))] + [f"b{l}" for l in range(1, len(sizes))]
    )
    for l in range(1, len(sizes)):
        assert net.params[f"W{l}"].shape == (sizes[l], sizes[l - 1])
        assert net.params[f"b{l}"].shape == (sizes[l], 1)
        np.testing.assert_array_equal(net.params[f"b{l}"], 0.0)


def test_seed_zero_is_a_seed_and_seeds_differ() -> None:
    a = sn.Network(n_x=2, init="normal", seed=0).params["W1"]
    b = sn.Network(n_x=2, init="normal", seed=0).params["W1"]
    c = sn.Network(n_x=2, init="normal", seed=1).params["W1"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batch_axis_gives_the_same_numbers(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    nets = [sn.Network(2, [10, 5], "tanh", "xavier", seed=s) for s in range(3)]
    stacked = {k: np.stack([n.params[k] for n in nets]) for k in nets[0].params}
    Zs, As = forward(stacked, X, nets[0].g)
    grads = backward(stacked, Zs, As, Y, nets[0].g)
    J = cost(Zs[-1], Y)
    assert J.shape == (3,)
    for k, net in enumerate(nets):
        assert J[k] == pytest.approx(net.cost(X, Y), rel=1e-12)
        for key, value in net.gradients(X, Y).items():
            np.testing.assert_allclose(grads[key][k], value, rtol=1e-10, atol=1e-15)


def test_float32(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    net = sn.Network(2, [4], "tanh", "normal", seed=0, dtype=np.float32)
    hist = sn.train(net, X, Y, 1.2, 500)
    assert net.params["W1"].dtype == np.float32
    assert hist.cost.dtype == np.float32
    ref = sn.Network(2, [4], "tanh", "normal", seed=0)
    sn.train(ref, X, Y, 1.2, 500)
    assert hist.final_cost == pytest.approx(sn.train(ref, X, Y, 1.2, 1).cost[0], abs=1e-3)


def test_predict_and_accuracy() -> None:
    net = sn.Network(n_x=1, hidden=[1], activation="identity", init="zeros")
    net.params["W1"][:] = 1.0
    net.params["W2"][:] = 1.0
    X = np.array([[-2.0, -0.1, 0.1, 3.0]])
    np.testing.assert_array_equal(net.predict(X), [[0, 0, 1, 1]])
    assert net.predict(X).shape == (1, 4)
    assert net.accuracy(X, np.array([[0, 1, 1, 1]])) == 0.75


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_x": 0}, r"n_x must be a positive integer \(the number of input features\), got 0"),
        (
            {"n_x": 2, "hidden": []},
            r"hidden must be a non-empty list of layer sizes like \[4\] or \[10, 5\], got \[\]",
        ),
        (
            {"n_x": 2, "hidden": [4, 0]},
            r"hidden must hold positive integers \(units per hidden layer\), got \[4, 0\]",
        ),
        ({"n_x": 2, "hidden": 4}, r"hidden must be a non-empty list .* got 4"),
        ({"n_x": 2, "dtype": np.int32}, r"dtype must be float64 or float32, got int32"),
    ],
)
def test_bad_construction(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        sn.Network(**kwargs)  # type: ignore[arg-type]


def test_bad_data_shapes() -> None:
    net = sn.Network(n_x=2)
    with pytest.raises(
        ValueError, match=r"^X must have shape \(n_x=2, m\) with m >= 1, got \(3, 5\)$"
    ):
        net.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"^Y must have shape \(1, m=5\) to match X, got \(5,\)$"):
        net.cost(np.zeros((2, 5)), np.zeros(5))
    with pytest.raises(
        ValueError, match=r"^Y must hold labels 0 and 1 only, got values \[0\. 2\.\]$"
    ):
        net.cost(np.zeros((2, 2)), np.array([[0, 2]]))


def test_repr() -> None:
    net = sn.Network(2, [4], "tanh", "normal", init_kwargs={"scale": 1.0}, seed=3)
    assert repr(net) == (
        "Network(n_x=2, hidden=[4], activation='tanh', init=\"normal{'scale': 1.0}\", "
        "seed=3, dtype=float64)"
    )
