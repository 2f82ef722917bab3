"""Batched training gives each member the numbers sequential training gives it."""

from __future__ import annotations

import numpy as np
import pytest

import shallownet as sn
from shallownet.network import Array
from shallownet.stack import train_stack


def _members() -> list[tuple[str, dict[str, float], int, float]]:
    return [
        ("normal", {"scale": 0.01}, 0, 1.2),
        ("normal", {"scale": 1.0}, 1, 0.5),
        ("zeros", {}, 0, 1.2),
        ("xavier", {}, 3, 2.0),
        ("normal", {"scale": 1.0}, 2, 1e6),  # diverges
    ]


@pytest.mark.parametrize("stacked_diagnostics", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_batched_equals_sequential(
    activation: str, stacked_diagnostics: bool, flower: tuple[Array, Array]
) -> None:
    X, Y = flower
    spec = _members()

    def make(k: int) -> sn.Network:
        init, params, seed, _ = spec[k]
        return sn.Network(2, [4], activation, init, params, seed=seed)

    sequential = []
    for k, (*_, lr) in enumerate(spec):
        net = make(k)
        hist = sn.train(net, X, Y, lr, 300, callbacks=[sn.RecordDiagnostics(every=25)])
        sequential.append((net, hist))
    nets = [make(k) for k in range(len(spec))]
    if stacked_diagnostics:  # computed once on the stack, recorded per member
        callbacks, stack_callbacks = None, [sn.RecordDiagnostics(every=25)]
    else:
        callbacks, stack_callbacks = [[sn.RecordDiagnostics(every=25)] for _ in nets], []
    histories = train_stack(
        nets, X, Y, [lr for *_, lr in spec], 300, callbacks, stack_callbacks=stack_callbacks
    )
    for k, ((ref_net, ref), net, hist) in enumerate(zip(sequential, nets, histories, strict=True)):
        assert hist.status == ref.status, k
        assert hist.diverged_at == ref.diverged_at, k
        assert hist.failure_reason == ref.failure_reason, k
        np.testing.assert_allclose(hist.cost, ref.cost, rtol=1e-12, atol=0, err_msg=str(k))
        assert hist.final_cost == pytest.approx(ref.final_cost, rel=1e-12, nan_ok=True)
        for key in ref_net.params:
            np.testing.assert_allclose(
                net.params[key], ref_net.params[key], rtol=1e-12, atol=1e-300
            )
        assert [r["step"] for r in hist.records] == [r["step"] for r in ref.records]
        for mine, theirs in zip(hist.records, ref.records, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-15), k
    if activation == "relu":
        assert histories[-1].status == "FAILED"
        assert [h.status for h in histories[:-1]] == ["FINISHED"] * 4


def test_members_own_their_parameters_after_training(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    nets = [sn.Network(2, [3], "tanh", "normal", seed=s) for s in range(3)]
    train_stack(nets, X, Y, [1.0] * 3, 10)
    before = nets[1].params["W1"].copy()
    nets[0].params["W1"] += 1.0
    np.testing.assert_array_equal(nets[1].params["W1"], before)
    assert nets[0].params["W1"].shape == (3, 2)


def test_incompatible_members_are_refused(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    with pytest.raises(
        ValueError,
        match=r"cannot train Network\(.*hidden=\[5\].*\) together with Network\(.*hidden=\[4\]",
    ):
        train_stack([sn.Network(2, [4]), sn.Network(2, [5])], X, Y, [1.0, 1.0], 5)
    with pytest.raises(
        ValueError, match=r"learning_rates needs one value per network \(2\), got 1"
    ):
        train_stack([sn.Network(2), sn.Network(2)], X, Y, [1.0], 5)


def test_stacked_diagnostics_record_what_each_network_records_alone() -> None:
    """A deep float32 network with a test set: every metric (per layer, test accuracy)
    computed on the stack equals the member's own, at the same steps, as Python numbers."""
    X, Y = sn.datasets.gaussian_quantiles(n_samples=200, n_features=20, seed=1)
    X_test, Y_test = sn.datasets.gaussian_quantiles(n_samples=100, n_features=20, seed=2)
    inits = [("standard", {}), ("xavier", {}), ("normal", {"scale": 1.0})]

    def make(k: int) -> sn.Network:
        return sn.Network(X.shape[0], [6, 5], "tanh", *inits[k], seed=k, dtype="float32")

    alone = [
        sn.train(make(k), X, Y, 0.5, 41, [sn.RecordDiagnostics(20, X_test, Y_test)]).records
        for k in range(len(inits))
    ]
    stacked = train_stack(
        [make(k) for k in range(len(inits))],
        X,
        Y,
        [0.5] * len(inits),
        41,
        stack_callbacks=[sn.RecordDiagnostics(20, X_test, Y_test)],
    )
    for k, (history, records) in enumerate(zip(stacked, alone, strict=True)):
        assert [r["step"] for r in history.records] == [0, 20, 40]
        assert history.records[0].keys() == records[0].keys()
        assert {"test_accuracy", "sat_frac_h2", "act_std_h2", "grad_norm/W3"} <= records[0].keys()
        for mine, theirs in zip(history.records, records, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-5, abs=1e-7), k
            assert all(type(value) in (int, float) for value in mine.values())
