"""Symmetry and saturation diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

import shallownet as sn
from shallownet.network import Array


def test_symmetry_by_hand() -> None:
    net = sn.Network(n_x=1, hidden=[3], activation="tanh", init="zeros")
    # u_j = (W1[j], b1[j], W2[0, j]): units 0 and 1 equal, unit 2 differs by (3, 0, 4) -> distance 5
    net.params["W1"][:] = [[1.0], [1.0], [4.0]]
    net.params["W2"][:] = [[0.0, 0.0, 4.0]]
    sym = sn.diagnostics.symmetry(net)
    assert sym["sym_max_pair_dist"] == pytest.approx(5.0)
    norms = np.array([1.0, 1.0, np.hypot(4, 4)])
    assert sym["sym_rel_spread"] == pytest.approx(5.0 / norms.mean())
    assert sym["distinct_units"] == 2


def test_zero_network_is_fully_symmetric() -> None:
    sym = sn.diagnostics.symmetry(sn.Network(n_x=2, hidden=[5], init="zeros"))
    assert sym == {"sym_max_pair_dist": 0.0, "sym_rel_spread": 0.0, "distinct_units": 1}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_zero_init_units_stay_identical_every_step(
    activation: str, flower: tuple[Array, Array]
) -> None:
    # 200 of class 0, 50 of class 1: unbalanced, so b2 and then W2 move off zero
    X, Y = flower[0][:, :250], flower[1][:, :250]
    net = sn.Network(2, [4], activation, "zeros")
    hist = sn.train(net, X, Y, 1.2, 300, callbacks=[sn.RecordDiagnostics(every=1)])
    frame = hist.to_frame()
    assert (frame["distinct_units"] == 1).all()
    assert frame["sym_rel_spread"].max() < 1e-12
    if activation == "sigmoid":  # sigmoid(0) = 0.5 feeds W2, so the units move, together
        assert np.abs(net.params["W1"]).max() > 1e-3


def test_deeper_layers_get_suffixes() -> None:
    net = sn.Network(2, [10, 5], "relu", "he", seed=0)
    sym = sn.diagnostics.symmetry(net)
    assert set(sym) == {
        "sym_max_pair_dist",
        "sym_rel_spread",
        "distinct_units",
        "sym_max_pair_dist_h2",
        "sym_rel_spread_h2",
        "distinct_units_h2",
    }
    assert sym["distinct_units"] == 10
    assert sym["distinct_units_h2"] == 5
    X, _ = sn.datasets.flower()
    assert {"sat_frac_h2", "mean_gprime_h2"} <= set(sn.diagnostics.saturation(net, X))


def test_large_init_saturates_small_does_not(flower: tuple[Array, Array]) -> None:
    X, _ = flower
    small = sn.diagnostics.saturation(sn.Network(2, [4], "tanh", "normal", {"scale": 0.01}), X)
    large = sn.diagnostics.saturation(sn.Network(2, [4], "tanh", "normal", {"scale": 10.0}), X)
    assert small["sat_frac"] == 0.0
    assert small["mean_gprime"] > 0.99
    assert large["sat_frac"] > 0.7
    assert large["mean_gprime"] < 0.2


def test_relu_reports_dead_units_apart_from_saturation(flower: tuple[Array, Array]) -> None:
    """relu's zero side is dead (no gradient), not saturated: zeros + relu is all dead."""
    X, _ = flower
    zeros = sn.diagnostics.saturation(sn.Network(2, [4], "relu", "zeros"), X)
    assert (zeros["sat_frac"], zeros["dead_frac"]) == (0.0, 1.0)
    net = sn.Network(2, [4], "relu", "normal", {"scale": 1.0}, seed=3)
    got = sn.diagnostics.saturation(net, X)
    Z1 = net.params["W1"] @ X + net.params["b1"]
    assert got["dead_frac"] == pytest.approx(float(np.mean(Z1 <= 0)))
    assert got["sat_frac"] == 0.0


def test_out_sat_frac_counts_exact_zeros_and_ones() -> None:
    net = sn.Network(n_x=1, hidden=[1], activation="identity", init="zeros")
    net.params["W1"][:] = 1.0
    net.params["W2"][:] = 1.0
    X = np.array([[-100.0, 0.0, 1.0, 100.0]])
    assert sn.diagnostics.saturation(net, X)["out_sat_frac"] == 0.5


def test_grad_norms() -> None:
    grads = {"dW1": np.array([[3.0, 4.0]]), "db1": np.ones((1, 1)), "dW2": np.array([[2.0]])}
    assert sn.diagnostics.grad_norms(grads) == {"grad_norm/W1": 5.0, "grad_norm/W2": 2.0}


def test_batched_symmetry_returns_one_value_per_network() -> None:
    nets = [sn.Network(2, [4], "tanh", init, seed=0) for init in ("zeros", "normal")]
    stacked = sn.Network(2, [4], "tanh", "zeros")
    stacked.params = {k: np.stack([n.params[k] for n in nets]) for k in nets[0].params}
    sym = sn.diagnostics.symmetry(stacked)
    np.testing.assert_array_equal(sym["distinct_units"], [1, 4])


def test_activation_spread_and_weight_scale_per_layer_by_hand() -> None:
    net = sn.Network(3, [2, 2], "identity", "zeros")
    net.params["W1"][:] = [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]  # fan-in 3, mean w² 1/2
    net.params["W2"][:] = [[2.0, 0.0], [0.0, 0.0]]  # fan-in 2, mean w² 1
    X = np.array([[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]])
    sat = sn.diagnostics.saturation(net, X)
    # layer 1 activations: unit 1 gives 3, -3; unit 2 gives 0, 0
    assert sat["act_mean"] == 0.0
    assert sat["act_std"] == pytest.approx(np.std([3.0, -3.0, 0.0, 0.0]))
    # layer 2: 2 * layer 1's first unit (6, -6) and zeros
    assert sat["act_std_h2"] == pytest.approx(2 * sat["act_std"])
    scale = sn.diagnostics.weight_scale(net.params, net.L)
    assert scale == {"fan_in_w2": pytest.approx(1.5), "fan_in_w2_h2": pytest.approx(2.0)}


def test_weight_scale_is_fan_in_times_scale_squared() -> None:
    """E[z²] = fan-in · E[w²] · E[x²]: randn * 1 with 50 inputs gives 50; Xavier about 1."""
    for n_x, init, params, expected in [
        (50, "normal", {"scale": 1.0}, 50.0),
        (2, "normal", {"scale": 1.0}, 2.0),
        (200, "normal", {"scale": 0.01}, 0.02),
        (200, "he", {}, 2.0),
    ]:
        net = sn.Network(n_x, [400], "tanh", init, params, seed=0)
        got = sn.diagnostics.weight_scale(net.params, net.L)["fan_in_w2"]
        assert got == pytest.approx(expected, rel=0.1), (n_x, init)
