"""Data sets: the course's flower, scikit-learn's generators bit for bit, CSV input, split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_circles, make_gaussian_quantiles, make_moons

import shallownet as sn


def _course_flower() -> tuple[np.ndarray, np.ndarray]:
    """The course's load_planar_dataset(), verbatim apart from its global seed."""
    rs = np.random.RandomState(1)
    m, N, a = 400, 200, 4
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1), dtype="uint8")
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rs.randn(N) * 0.2
        r = a * np.sin(4 * t) + rs.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def test_flower_is_the_course_data() -> None:
    X, Y = sn.datasets.flower()
    X_ref, Y_ref = _course_flower()
    assert X.shape == (2, 400)
    assert Y.shape == (1, 400)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(Y, Y_ref)


@pytest.mark.parametrize("seed", [0, 1, 2, 42])
@pytest.mark.parametrize("n_samples", [7, 100, 300])
@pytest.mark.parametrize("noise", [None, 0.05, 0.2])
def test_circles_and_moons_match_scikit_learn(
    seed: int, n_samples: int, noise: float | None
) -> None:
    X, Y = sn.datasets.circles(n_samples=n_samples, noise=noise, seed=seed)
    X_ref, y_ref = make_circles(n_samples=n_samples, noise=noise, random_state=seed)
    np.testing.assert_array_equal(X, X_ref.T)
    np.testing.assert_array_equal(Y[0], y_ref)
    X, Y = sn.datasets.moons(n_samples=n_samples, noise=noise, seed=seed)
    X_ref, y_ref = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    np.testing.assert_array_equal(X, X_ref.T)
    np.testing.assert_array_equal(Y[0], y_ref)


def test_circles_factor_matches_scikit_learn() -> None:
    X, _ = sn.datasets.circles(n_samples=50, noise=0.1, factor=0.5, seed=3)
    np.testing.assert_array_equal(X, make_circles(50, noise=0.1, factor=0.5, random_state=3)[0].T)


@pytest.mark.parametrize("name", sn.datasets.names())
def test_every_generator_gives_binary_columns(name: str, tmp_path: Path) -> None:
    params: dict[str, object] = {}
    if name == "csv":
        path = tmp_path / "d.csv"
        path.write_text("a,b,label\n1,2,0\n3,4,1\n")
        params = {"path": path}
    X, Y = sn.datasets.load(name, **params)
    assert X.ndim == 2
    assert Y.shape == (1, X.shape[1])
    assert set(np.unique(Y)) == {0.0, 1.0}
    assert X.dtype == np.float64


def test_names() -> None:
    assert sn.datasets.names() == [
        "blobs",
        "circles",
        "csv",
        "flower",
        "gaussian_quantiles",
        "moons",
        "xor",
    ]


@pytest.mark.parametrize(("n_samples", "n_features", "seed"), [(200, 2, 1), (301, 50, 7)])
def test_gaussian_quantiles_match_scikit_learn(n_samples: int, n_features: int, seed: int) -> None:
    X, Y = sn.datasets.gaussian_quantiles(n_samples=n_samples, n_features=n_features, seed=seed)
    X_ref, y_ref = make_gaussian_quantiles(
        n_samples=n_samples, n_features=n_features, n_classes=2, random_state=seed
    )
    np.testing.assert_array_equal(X, X_ref.T)
    np.testing.assert_array_equal(Y[0], y_ref)
    assert X.shape == (n_features, n_samples)


def test_gaussian_quantiles_is_balanced() -> None:
    _, Y = sn.datasets.gaussian_quantiles(n_samples=101)
    assert Y.sum() == 51


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sn.datasets.circles(n_samples=0), r"^n_samples must be an integer >= 2, got 0$"),
        (
            lambda: sn.datasets.moons(noise=-1.0),
            r"^noise must be a number >= 0 \(standard deviation\), got -1\.0$",
        ),
        (
            lambda: sn.datasets.load("flowers"),
            r"^unknown dataset 'flowers'\. Did you mean 'flower'\?",
        ),
        (lambda: sn.datasets.circles(factor=1.5), r"^factor must be in \[0, 1\)"),
    ],
)
def test_bad_parameters(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_csv_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("x1,x2,label\n0.5,1.5,1\n-1,2,0\n3,-4,1\n")
    X, Y = sn.datasets.from_csv(path)
    np.testing.assert_array_equal(X, [[0.5, -1, 3], [1.5, 2, -4]])
    np.testing.assert_array_equal(Y, [[1, 0, 1]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x1,x2,y\n1,2,0\n", r"has no label column 'label'; columns: x1, x2, y$"),
        ("x1,label\n1,0\nabc,1\n", r": column 'x1' has a non-numeric value 'abc' on line 3$"),
        ("x1,label\n1,0\n2,2\n3,1\n", r": label column 'label' must hold 0 and 1 only, found 2$"),
        ("x1,label\n1,0\n,1\n", r": column 'x1' has a missing value on line 3$"),
        ("label\n1\n0\n", r"has no feature columns besides 'label'$"),
        # one value more per row than names: pandas would make the first an index and
        # shift every column (a=2, b=0, label=9 here)
        ("a,b,label\n1,2,0,9\n3,4,1,9\n", r": its rows have more values than its header"),
        # pandas' to_csv with its index: the unnamed column would become a feature
        (",a,label\n0,1,0\n1,2,1\n", r": column 1 has no name \(an index written by pandas"),
        ("a,label\n1,0\n2,1,5\n", r" is not a table: Expected 2 fields in line 3, saw 3; "),
        ("", r" is empty; write a header"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^CSV file '{path}'.*{message}"):
        sn.datasets.from_csv(path)


def test_a_csv_not_in_utf8_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("caf\u00e9,label\n1,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"is not UTF-8 text \(byte 0xe9 at offset 3\); save it"):
        sn.datasets.from_csv(path)


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^CSV file '.*nope\.csv' does not exist$"):
        sn.datasets.from_csv(tmp_path / "nope.csv")


def test_split() -> None:
    X, Y = sn.datasets.flower()
    X_tr, Y_tr, X_te, Y_te = sn.datasets.split(X, Y, test_fraction=0.25, seed=0)
    assert X_tr.shape == (2, 300)
    assert X_te.shape == (2, 100)
    assert Y_tr.shape == (1, 300)
    assert Y_te.shape == (1, 100)
    together = np.sort(np.concatenate([X_tr, X_te], axis=1), axis=1)
    np.testing.assert_array_equal(together, np.sort(X, axis=1))
    with pytest.raises(ValueError, match=r"^test_fraction must be in \(0, 1\), got 1\.0$"):
        sn.datasets.split(X, Y, test_fraction=1.0)
