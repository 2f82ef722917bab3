"""Training: the history, callbacks, divergence."""

from __future__ import annotations

import re

import numpy as np
import pytest

import shallownet as sn
from shallownet.network import Array


class Spy(sn.Callback):
    def __init__(self, every: int) -> None:
        self.every = every
        self.steps: list[int] = []
        self.costs: list[float] = []
        self.events: list[str] = []

    def on_train_begin(self, state: sn.TrainState) -> None:
        self.events.append("begin")

    def on_step(self, state: sn.TrainState) -> None:
        self.steps.append(state.step)
        self.costs.append(state.cost)
        assert set(state.grads) == {"dW1", "db1", "dW2", "db2"}

    def on_train_end(self, state: sn.TrainState) -> None:
        self.events.append("end")


def test_history_cost_is_before_each_update(small_data: tuple[Array, Array]) -> None:
    X, Y = small_data
    net = sn.Network(2, [4], "tanh", "normal", seed=1)
    start = net.cost(X, Y)
    hist = sn.train(net, X, Y, 0.5, 25)
    assert hist.cost.shape == (25,)
    assert hist.cost[0] == start
    assert hist.final_cost == pytest.approx(net.cost(X, Y))
    assert hist.final_cost < hist.cost[-1] < hist.cost[0]
    assert hist.status == "FINISHED"


def test_callbacks_every_k_steps_plus_the_last(small_data: tuple[Array, Array]) -> None:
    X, Y = small_data
    spy = Spy(every=10)
    hist = sn.train(sn.Network(2, seed=0), X, Y, 1.0, 25, callbacks=[spy])
    assert spy.steps == [0, 10, 20, 24]
    assert spy.events == ["begin", "end"]
    np.testing.assert_array_equal(spy.costs, hist.cost[[0, 10, 20, 24]])


def test_to_frame_joins_cost_and_recorded_metrics(small_data: tuple[Array, Array]) -> None:
    X, Y = small_data
    hist = sn.train(
        sn.Network(2, seed=0), X, Y, 1.0, 30, callbacks=[sn.RecordDiagnostics(every=10)]
    )
    frame = hist.to_frame()
    assert frame.index.name == "step"
    assert len(frame) == 30
    recorded = frame.dropna()
    assert list(recorded.index) == [0, 10, 20, 29]
    assert {"cost", "distinct_units", "sat_frac", "mean_gprime", "grad_norm/W1"} <= set(
        frame.columns
    )
    np.testing.assert_array_equal(frame["cost"].to_numpy(), hist.cost)


def test_divergence_stops_and_is_recorded(flower: tuple[Array, Array]) -> None:
    X, Y = flower
    net = sn.Network(2, [4], "relu", "normal", init_kwargs={"scale": 1.0}, seed=0)
    hist = sn.train(net, X * 1e3, Y, learning_rate=1e6, iterations=100)
    assert hist.status == "FAILED"
    assert hist.diverged_at is not None
    assert 0 < hist.diverged_at < 100
    assert len(hist.cost) == hist.diverged_at
    assert np.isfinite(hist.cost).all()
    assert hist.failure_reason is not None
    assert hist.failure_reason.startswith(f"diverged at step {hist.diverged_at}: cost is ")


@pytest.mark.parametrize(
    ("lr", "iterations", "message"),
    [
        (0.0, 10, r"^learning_rate must be a positive number, got 0\.0$"),
        (-1.0, 10, r"^learning_rate must be a positive number, got -1\.0$"),
        (float("nan"), 10, r"^learning_rate must be a positive number, got nan$"),
        (1.0, 0, r"^iterations must be a positive integer, got 0$"),
        (1.0, 2.5, r"^iterations must be a positive integer, got 2\.5$"),
    ],
)
def test_bad_hyperparameters(
    lr: float, iterations: int, message: str, small_data: tuple[Array, Array]
) -> None:
    X, Y = small_data
    with pytest.raises(ValueError, match=message):
        sn.train(sn.Network(2), X, Y, lr, iterations)


def test_a_stack_of_one_is_the_course_loop_with_its_stack_callbacks_first() -> None:
    """train_stack of one network gives train's numbers bit for bit, and calls its stack
    callbacks before the member's own at each step they are due."""
    X, Y = sn.datasets.flower()
    order: list[str] = []

    class Member(sn.Callback):
        every = 50

        def on_step(self, state: sn.TrainState) -> None:
            order.append(f"member {state.step}")

    class Whole(sn.StackCallback):
        every = 100

        def on_stack_step(self, stack: sn.StackState) -> None:
            assert stack.members == [0]
            order.append(f"stack {stack.step}")

    alone = sn.Network(2, [4], "tanh", "normal", {"scale": 0.01}, seed=2)
    reference = sn.train(alone, X, Y, 1.2, 201, callbacks=[sn.RecordDiagnostics(every=50)])
    net = sn.Network(2, [4], "tanh", "normal", {"scale": 0.01}, seed=2)
    (history,) = sn.train_stack(
        [net], X, Y, [1.2], 201, [[Member(), sn.RecordDiagnostics(every=50)]], [Whole()]
    )
    np.testing.assert_array_equal(history.cost, reference.cost)
    assert history.records == reference.records
    for key in alone.params:
        np.testing.assert_array_equal(net.params[key], alone.params[key])
    assert order == [
        "stack 0", "member 0", "member 50", "stack 100", "member 100", "member 150",
        "stack 200", "member 200",
    ]  # fmt: skip


def test_a_sweeps_count_says_how_many_jobs_ended_and_about_how_long_the_rest_take() -> None:
    import multiprocessing
    import time

    from shallownet.progress import SweepCount, duration

    count = SweepCount(4, multiprocessing.Value("i", 0), started=time.time() - 10)
    said: list[str] = []
    for _ in range(4):
        count.job_ended(said.append)
    assert said[0] == "[1/4, about 30 s left]"  # 10 s a job so far
    assert said[1] == "[2/4, about 10 s left]"
    assert said[3] == "[4/4]"
    assert [duration(s) for s in (0.2, 8, 89, 90, 240, 5400, 9000)] == [
        "1 s",
        "8 s",
        "89 s",
        "2 min",
        "4 min",
        "1.5 h",
        "2.5 h",
    ]


def test_a_count_held_by_a_killed_worker_delays_a_line_but_never_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing
    import threading

    from shallownet import progress
    from shallownet.progress import SweepCount

    monkeypatch.setattr(progress, "LOCK_SECONDS", 0.2)

    ended = multiprocessing.Value("i", 0)
    count = SweepCount(2, ended)
    holding = threading.Event()

    def hold() -> None:  # as a worker killed while it printed its line leaves the count
        ended.get_lock().acquire()
        holding.set()

    threading.Thread(target=hold, daemon=True).start()
    holding.wait()
    said: list[str] = []
    count.job_ended(said.append)  # waits its LOCK_SECONDS, then says its line
    assert len(said) == 1
    assert said[0].startswith("[1/2, about ")
    assert ended.get_obj().value == 1  # (its .value would wait for the lock held)


def test_sys_exit_and_a_bare_keyboard_interrupt_in_plugin_code_are_its_faults() -> None:
    """Inside plugin code, ``sys.exit()`` and a ``KeyboardInterrupt`` no signal raised
    become a PluginExit (an Exception: that job fails); a signal's interrupt stays one."""
    import signal
    import sys

    from shallownet import interrupts

    exit_ = pytest.raises(interrupts.PluginExit, match=r"^plugin code raised SystemExit\(3\)$")
    with exit_, interrupts.plugin_faults():
        sys.exit(3)
    bare = pytest.raises(interrupts.PluginExit, match=r"KeyboardInterrupt \(no signal")
    with bare, interrupts.plugin_faults():
        raise KeyboardInterrupt
    with pytest.raises(interrupts.Interrupted), interrupts.plugin_faults():
        raise interrupts.Interrupted(signal.SIGINT)


def test_a_signal_while_a_sweeps_parent_run_ends_is_raised_once_it_has_ended() -> None:
    """Inside ``deferred()`` (the parent run ending with its children's statuses) a SIGTERM
    does not stop the block halfway: it is raised as the block ends."""
    import os
    import signal

    from shallownet import interrupts

    done = []

    def end_parent() -> None:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, in this thread
            done.append("counts recorded")
            done.append("parent ended")

    with interrupts.installed(), pytest.raises(interrupts.Interrupted, match="SIGTERM"):
        end_parent()
    assert done == ["counts recorded", "parent ended"]
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # put back as it was


def _holey(z: Array) -> Array:
    """tanh, but nan far out in the tails: a plugin's bug, not a learning rate's."""
    a: Array = np.where(np.abs(z) > 40, np.nan, np.tanh(z))
    return a


@pytest.mark.parametrize("stacked", [False, True], ids=["alone", "stacked"])
def test_an_activation_returning_nan_is_named_not_blamed_on_the_learning_rate(
    stacked: bool,
) -> None:
    """Its run was FAILED 'diverged ...; try a smaller learning rate' (issue "Nothing lost,
    round four"); it names the activation, and is no divergence (the sweep counts it as
    a plugin's error)."""
    from shallownet.stack import train_stack
    from shallownet.train import diverged

    sn.activations.register(
        "holey", sn.Activation(forward=_holey, derivative=lambda z, a: 1 - a**2)
    )
    X, Y = sn.datasets.flower()

    def net(scale: float) -> sn.Network:
        return sn.Network(
            2, [4], activation="holey", init="normal", init_kwargs={"scale": scale}, seed=0
        )

    if stacked:
        fine, history = train_stack([net(0.01), net(20.0)], X, Y, [1.2, 1.2], 20)
        assert fine.status == "FINISHED"
    else:
        history = sn.train(net(20.0), X, Y, learning_rate=1.2, iterations=20)
    assert history.status == "FAILED"
    reason = str(history.failure_reason)
    assert re.fullmatch(
        r"activation 'holey' returned nan for z=-?\d+(\.\d+)? in hidden layer 1; g\(z\) must be "
        r"finite wherever z is: fix the plugin \(step 0: cost is nan\)",
        reason,
    ), reason
    assert not diverged(reason)
