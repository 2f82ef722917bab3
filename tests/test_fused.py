"""The fused passes (buffers, elementwise work in threads) give the course's numbers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping

import numpy as np
import pytest

import shallownet as sn
from shallownet import fused
from shallownet.activations import Activation
from shallownet.network import Array, backward, forward
from shallownet.stack import stacked, train_stack


def _data(n_x: int, m: int, dtype: type = np.float64) -> tuple[Array, Array]:
    rng = np.random.default_rng(7)
    X: Array = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (X[0] * X[1] > 0).astype(dtype)[None, :]
    return X, Y


@pytest.mark.parametrize("activation", sorted(sn.activations.names()))
@pytest.mark.parametrize(("hidden", "dtype"), [([5], np.float64), ([6, 3], np.float32)])
def test_fused_passes_give_the_course_passes_bit_for_bit(
    activation: str, hidden: list[int], dtype: type
) -> None:
    X, Y = _data(3, 1001, dtype)  # 1001 examples: blocks of 7 columns, the last one shorter
    net = sn.Network(3, hidden, activation, "normal", {"scale": 1.0}, seed=1, dtype=dtype)
    passes = fused.FusedPasses(block=7 * hidden[0])
    for _ in range(2):  # the second time through the buffers of the first
        Z, A = forward(net.params, X, net.g)
        grads = backward(net.params, Z, A, Y, net.g)
        fZ, fA = passes.forward(net.params, X, net.g)
        fgrads = passes.backward(net.params, fZ, fA, Y, net.g)
        for mine, theirs in [*zip(fZ, Z, strict=True), *zip(fA, A, strict=True)]:
            assert mine.dtype == theirs.dtype
            np.testing.assert_array_equal(mine, theirs)
        assert fgrads.keys() == grads.keys()
        for key in grads:
            np.testing.assert_array_equal(fgrads[key], grads[key], err_msg=key)
        for key, value in net.params.items():
            value -= 0.5 * grads["d" + key]


def test_a_stack_goes_through_the_fused_passes_as_through_the_course_passes() -> None:
    X, Y = _data(2, 500)
    scales = [0.5, 1.0, 2.0]
    nets = [
        sn.Network(2, [4], "tanh", "normal", {"scale": s}, seed=k) for k, s in enumerate(scales)
    ]
    params = {key: np.stack([net.params[key] for net in nets]) for key in nets[0].params}
    passes = fused.FusedPasses(block=3 * 4 * 11)
    Z, A = forward(params, X, nets[0].g)
    fZ, fA = passes.forward(params, X, nets[0].g)
    assert fA[1].shape == (3, 4, 500)
    np.testing.assert_array_equal(fA[1], A[1])
    grads = backward(params, Z, A, Y, nets[0].g)
    fgrads = passes.backward(params, fZ, fA, Y, nets[0].g)
    for key in grads:
        np.testing.assert_array_equal(fgrads[key], grads[key], err_msg=key)


def test_training_on_large_data_takes_the_fused_passes_and_gives_the_same_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, Y = _data(2, 2**16)  # 16 hidden units x 65,536 examples: 2**20 numbers, MIN_SIZE
    monkeypatch.setattr(fused, "FusedPasses", _Counting)

    def run() -> tuple[sn.Network, sn.History]:
        net = sn.Network(2, [16], "tanh", "xavier", seed=0)
        return net, sn.train(net, X, Y, 1.0, 4, callbacks=[sn.RecordDiagnostics(every=2)])

    net, history = run()
    assert _Counting.forwards == 5  # 4 steps, then the final cost
    monkeypatch.setattr(fused, "MIN_SIZE", 2**20 + 1)  # the same network, the course passes
    ref_net, ref = run()
    assert _Counting.forwards == 5
    np.testing.assert_array_equal(history.cost, ref.cost)
    assert history.final_cost == ref.final_cost
    assert history.records == ref.records
    for key in ref_net.params:
        np.testing.assert_array_equal(net.params[key], ref_net.params[key])


def test_a_diverging_network_fails_on_the_fused_passes() -> None:
    X, Y = _data(2, 2**16)
    nets = [sn.Network(2, [16], "relu", "normal", {"scale": 1.0}, seed=k) for k in range(2)]
    histories = train_stack(nets, X, Y, [0.5, 1e12], 30)
    assert [h.status for h in histories] == ["FINISHED", "FAILED"]
    assert histories[1].diverged_at == 14
    assert "cost is inf; try a smaller learning rate" in str(histories[1].failure_reason)


def test_the_threads_keep_the_callers_errstate() -> None:
    """train silences overflow (it marks the network FAILED instead): so do the threads."""
    big = np.full((4, 1000), 1000.0)

    def overflow(cols: slice) -> None:
        np.exp(big[..., cols])

    with np.errstate(over="ignore"):
        fused._in_blocks(overflow, big, block=400)  # a warning would be an error here
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        fused._in_blocks(overflow, big, block=400)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_process_trains_on_the_fused_passes_with_threads_of_its_own() -> None:
    X, Y = _data(2, 2**16)
    sn.train(sn.Network(2, [16], "tanh", "xavier", seed=0), X, Y, 1.0, 2)  # the pool starts
    child = multiprocessing.get_context("fork").Process(target=_train_large, args=(X, Y))
    child.start()
    child.join(timeout=60)  # without a pool of its own, the child would wait forever
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0


def _train_large(X: Array, Y: Array) -> None:
    history = sn.train(sn.Network(2, [16], "tanh", "xavier", seed=0), X, Y, 1.0, 2)
    assert history.status == "FINISHED"


def test_the_fused_passes_are_taken_from_a_million_hidden_activations() -> None:
    nets = [sn.Network(2, [4], "tanh", "xavier", seed=k) for k in range(4)]
    assert not fused.pays_off(nets[0].params, 400)  # the flower
    assert not fused.pays_off(nets[0].params, 2**16)  # 4 x 65,536 numbers
    with stacked(nets) as params:
        assert fused.pays_off(params, 2**16)  # 4 networks of them
    assert fused.pays_off(sn.Network(784, [128], "tanh", "xavier").params, 60_000)
    deep = sn.Network(2, [4, 512], "tanh", "xavier").params
    assert fused.pays_off(deep, 2**11)  # the second hidden layer


class _Counting(fused.FusedPasses):
    forwards = 0

    def forward(
        self, params: Mapping[str, Array], X: Array, g: Activation
    ) -> tuple[list[Array], list[Array]]:
        _Counting.forwards += 1
        return super().forward(params, X, g)
