"""The lessons the framework exists to show, checked on small but real runs."""

from __future__ import annotations

import numpy as np
import pytest

import shallownet as sn
from shallownet.network import Array


@pytest.mark.slow
def test_large_init_stalls_more_runs_than_small_across_seeds(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    stalled = {}
    for scale in (0.01, 10.0):
        finals = []
        for seed in range(10):
            net = sn.Network(2, [4], "tanh", "normal", {"scale": scale}, seed=seed)
            finals.append(sn.train(net, X, Y, 1.2, 3000).final_cost)
        stalled[scale] = sum(c > 0.30 for c in finals)
    assert stalled[0.01] == 0
    assert stalled[10.0] >= 3


def test_large_init_saturates_at_initialization(flower: tuple[Array, Array]) -> None:
    X, _ = flower
    for activation in ("sigmoid", "tanh"):
        small = np.mean(
            [
                sn.diagnostics.saturation(
                    sn.Network(2, [4], activation, "normal", {"scale": 0.01}, seed=s), X
                )["sat_frac"]
                for s in range(5)
            ]
        )
        large = np.mean(
            [
                sn.diagnostics.saturation(
                    sn.Network(2, [4], activation, "normal", {"scale": 10.0}, seed=s), X
                )["sat_frac"]
                for s in range(5)
            ]
        )
        assert small == 0.0
        assert large > 0.5, activation


@pytest.mark.slow
def test_hidden_size_table_has_the_course_shape(flower: tuple[Array, Array]) -> None:
    """The course: n_h = 1, 2 around 67% accuracy; 3, 4, 5 around 90%."""
    X, Y = flower
    accuracy = {}
    for n_h in (1, 2, 3, 4, 5):
        accs = []
        for seed in range(3):
            net = sn.Network(2, [n_h], "tanh", "normal", {"scale": 0.01}, seed=seed)
            sn.train(net, X, Y, 1.2, 5000)
            accs.append(net.accuracy(X, Y))
        accuracy[n_h] = float(np.median(accs))
    assert max(accuracy[1], accuracy[2]) < 0.75
    assert min(accuracy[3], accuracy[4], accuracy[5]) > 0.85


@pytest.mark.slow
def test_deep_network_on_circles_he_learns_zeros_does_not() -> None:
    """The course's initialization study: [10, 5] relu, lr 0.01, 15,000 iterations."""
    X, Y = sn.datasets.circles(n_samples=300, noise=0.05, seed=1)
    X_test, Y_test = sn.datasets.circles(n_samples=100, noise=0.05, seed=2)
    results = {}
    for init in ("zeros", "he"):
        net = sn.Network(2, [10, 5], "relu", init, seed=3)
        hist = sn.train(net, X, Y, 0.01, 15_000)
        results[init] = (net.accuracy(X, Y), net.accuracy(X_test, Y_test), hist.final_cost)
    assert results["zeros"][0] == 0.5
    assert results["zeros"][2] == np.log(2)
    assert results["he"][0] > 0.97
    assert results["he"][1] > 0.9


def test_constant_init_learns_in_lockstep_like_one_unit(flower: tuple[Array, Array]) -> None:
    """Every weight 0.5: unlike zeros, the hidden units move, but identically, so the
    4-unit network computes exactly what one unit would (weights W1[0], b1[0], summed W2)
    and gets about the course's one-unit accuracy (67.5%) instead of its 4-unit 90.5%."""
    X, Y = flower
    for activation in ("sigmoid", "tanh"):
        net = sn.Network(2, [4], activation, "constant", seed=0)
        start = {key: value.copy() for key, value in net.params.items()}
        record = sn.diagnostics.RecordDiagnostics(every=500)
        hist = sn.train(net, X, Y, 1.2, 10_000, callbacks=[record])
        assert set(hist.to_frame()["distinct_units"].dropna()) == {1.0}  # at every record
        moved = np.abs(net.params["W1"] - start["W1"]).max()
        assert moved > 0.5, activation  # they learned (zeros would not move at all)
        one = sn.Network(2, [1], activation, "zeros")
        one.params.update(
            W1=net.params["W1"][:1], b1=net.params["b1"][:1],
            W2=net.params["W2"].sum(axis=1, keepdims=True), b2=net.params["b2"],
        )  # fmt: skip
        np.testing.assert_array_equal(net.predict(X), one.predict(X))
        assert 0.6 <= net.accuracy(X, Y) <= 0.7, activation


def test_randn_1_saturates_with_fan_in_and_xavier_does_not() -> None:
    """On standardized inputs z has variance ≈ fan-in × scale²: randn * 1 barely saturates
    tanh with 2 inputs, mostly with 50, nearly fully with 200, and then stalls; randn * 0.01
    never saturates and Xavier (scaled by the fan-in) stays low."""
    inits = {"large": ("normal", {"scale": 1.0}), "small": ("normal", {"scale": 0.01})}
    inits["xavier"] = ("xavier", {})
    sat: dict[tuple[str, int], float] = {}
    for n in (2, 50, 200):
        X, _ = sn.datasets.gaussian_quantiles(n_samples=400, n_features=n, seed=1)
        for key, (init, kwargs) in inits.items():
            sat[key, n] = float(
                np.mean(
                    [
                        sn.diagnostics.saturation(
                            sn.Network(n, [4], "tanh", init, kwargs, seed=s), X
                        )["sat_frac"]
                        for s in range(3)
                    ]
                )
            )
    assert sat["large", 2] < 0.1 < 0.5 < sat["large", 50] < sat["large", 200]
    assert sat["large", 200] > 0.8
    assert all(sat["small", n] == 0.0 for n in (2, 50, 200))
    assert all(sat["xavier", n] < 0.1 for n in (2, 50, 200))
    X, Y = sn.datasets.gaussian_quantiles(n_samples=400, n_features=200, seed=1)
    for s in range(3):  # and learning stalls where the units saturate
        large = sn.Network(200, [4], "tanh", "normal", {"scale": 1.0}, seed=s)
        small = sn.Network(200, [4], "tanh", "normal", {"scale": 0.01}, seed=s)
        assert sn.train(large, X, Y, 1.2, 1000).final_cost > 0.4
        assert sn.train(small, X, Y, 1.2, 1000).final_cost < 0.1


def _layer_spread(activation: str, init: str, seeds: range) -> np.ndarray:
    """Per hidden layer of a 4 x 50 network on the 50-feature data: the standard deviation
    of its activations at initialization, averaged over seeds."""
    X, _ = sn.datasets.gaussian_quantiles(n_samples=400, n_features=50, seed=1)
    spread = [
        [
            sn.diagnostics.saturation(sn.Network(50, [50] * 4, activation, init, seed=s), X)[
                f"act_std{sn.diagnostics.layer_suffix(l)}"
            ]
            for l in range(1, 5)
        ]
        for s in seeds
    ]
    return np.asarray(np.mean(spread, axis=0))


def test_depth_signals_shrink_under_the_old_init_and_keep_under_xavier_and_he() -> None:
    """Glorot & Bengio 2010 (Figure 6): under U(±1/sqrt(n)), fan-in · Var(W) = 1/3, so tanh
    activations narrow layer after layer; Xavier (about 1) narrows them far less. He et al.
    2015: relu halves the second moment, so He's 2 keeps it across layers and Xavier's 1
    does not."""
    seeds = range(3)
    tanh = {init: _layer_spread("tanh", init, seeds) for init in ("standard", "xavier")}
    relu = {init: _layer_spread("relu", init, seeds) for init in ("standard", "xavier", "he")}
    assert np.all(np.diff(tanh["standard"]) < 0)
    assert tanh["standard"][3] / tanh["standard"][0] < 0.25  # 0.46 -> 0.08
    assert tanh["xavier"][3] / tanh["xavier"][0] > 0.5  # 0.63 -> 0.36
    assert relu["standard"][3] / relu["standard"][0] < 0.15
    assert 0.3 < relu["xavier"][3] / relu["xavier"][0] < 0.6
    assert 0.8 < relu["he"][3] / relu["he"][0] < 1.6


@pytest.mark.slow
def test_deep_sigmoid_is_hard_to_train_and_better_inits_train_faster() -> None:
    """The depth preset's lessons over seeds, 4 x 50 on the 50-feature data, learning rate
    0.5, 2,000 steps: sigmoid under the old init learns nothing while He gets every seed
    below cost 0.3; tanh and relu reach cost 0.3 sooner under Xavier or He than under the
    old init."""
    from shallownet.stack import train_stack

    X, Y = sn.datasets.gaussian_quantiles(n_samples=400, n_features=50, seed=1)

    def steps_to_0_3(activation: str, init: str) -> list[float]:
        """Per seed (0, 1, 2), the first step at which the cost is at most 0.3 (inf: never)."""
        nets = [sn.Network(50, [50] * 4, activation, init, seed=s) for s in range(3)]
        histories = train_stack(nets, X, Y, [0.5] * 3, 2000)
        return [
            float(np.argmax(h.cost <= 0.3)) if (h.cost <= 0.3).any() else np.inf for h in histories
        ]

    assert steps_to_0_3("sigmoid", "standard") == [np.inf] * 3
    assert max(steps_to_0_3("sigmoid", "he")) < 2000
    for activation, better in (("tanh", "xavier"), ("relu", "he")):
        old, new = steps_to_0_3(activation, "standard"), steps_to_0_3(activation, better)
        assert max(old) < 2000, activation
        assert all(n < o for n, o in zip(new, old, strict=True)), (activation, new, old)
