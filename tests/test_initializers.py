"""Initializers: shapes, statistics, contract checks."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shallownet as sn
from shallownet.network import Array
from shallownet.registry import PluginError


@pytest.mark.parametrize("name", sn.initializers.names())
@given(fan_out=st.integers(1, 30), fan_in=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_every_initializer_returns_its_shape(
    name: str, fan_out: int, fan_in: int, seed: int
) -> None:
    W = sn.initializers.call(name, (fan_out, fan_in), np.random.default_rng(seed))
    assert W.shape == (fan_out, fan_in)
    assert np.isfinite(W).all()


@pytest.mark.parametrize("name", sn.initializers.names())
def test_every_initializer_passes_its_check(name: str) -> None:
    sn.initializers.check(name)


def _draw(name: str, shape: tuple[int, int], **params: float) -> np.ndarray:
    return sn.initializers.call(name, shape, np.random.default_rng(0), params)


def test_statistics_match_the_formulas() -> None:
    shape = (400, 300)  # fan_out, fan_in: 120k draws
    assert np.std(_draw("normal", shape)) == pytest.approx(0.01, rel=0.01)
    assert np.std(_draw("normal", shape, scale=1.0)) == pytest.approx(1.0, rel=0.01)
    assert np.std(_draw("he", shape)) == pytest.approx(np.sqrt(2 / 300), rel=0.01)
    limit = np.sqrt(6 / (300 + 400))
    W = _draw("xavier", shape)
    assert W.max() <= limit
    assert W.min() >= -limit
    assert np.std(W) == pytest.approx(limit / np.sqrt(3), rel=0.01)  # std of U(-l, l)
    W = _draw("standard", shape)  # Glorot & Bengio's eq. 1: U(±1/sqrt(fan_in))
    assert np.abs(W).max() <= 1 / np.sqrt(300)
    assert np.var(W) == pytest.approx(1 / (3 * 300), rel=0.02)
    U = _draw("uniform", shape, scale=0.5)
    assert np.abs(U).max() <= 0.5
    np.testing.assert_array_equal(_draw("zeros", shape), 0.0)


def test_wrong_shape_is_caught_naming_the_plugin() -> None:
    sn.initializers.register("transposed", lambda shape, rng: np.zeros(shape[::-1]))
    with pytest.raises(
        PluginError,
        match=r"^initializer 'transposed' returned shape \(2, 4\), expected \(4, 2\) \(fan_out, fan_in\)$",
    ):
        sn.Network(n_x=2, hidden=[4], init="transposed")


def test_non_finite_values_are_caught() -> None:
    sn.initializers.register("nan_init", lambda shape, rng: np.full(shape, np.nan))
    with pytest.raises(PluginError, match=r"initializer 'nan_init' returned non-finite values"):
        sn.initializers.check("nan_init")


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (lambda shape: np.ones(shape) + 1j, "complex128"),  # was made real, silently
        (lambda shape: np.ones(shape, dtype=bool), "bool"),
        (lambda shape: np.full(shape, "0.1"), "<U3"),
    ],
    ids=["complex", "bool", "strings"],
)
def test_weights_that_are_not_real_numbers_are_caught(
    values: Callable[[tuple[int, int]], Array], dtype: str
) -> None:
    sn.initializers.register("odd_init", lambda shape, rng: values(shape))
    with pytest.raises(
        PluginError,
        match=rf"^initializer 'odd_init' returned {re.escape(dtype)} values for shape \(4, 2\); "
        r"weights must be real numbers \(float or int\)$",
    ):
        sn.initializers.check("odd_init")


def test_unknown_parameter_lists_allowed() -> None:
    with pytest.raises(
        PluginError, match=r"initializer 'normal' has no parameter gain; allowed: scale"
    ):
        sn.Network(n_x=2, init="normal", init_kwargs={"gain": 2.0})


def test_negative_scale_is_refused() -> None:
    with pytest.raises(PluginError, match=r"initializer 'normal': scale must be >= 0, got -1"):
        sn.Network(n_x=2, init="normal", init_kwargs={"scale": -1})


def test_parameters_are_introspected() -> None:
    assert sn.initializers.parameters("normal") == {"scale": 0.01}
    assert sn.initializers.parameters("zeros") == {}
