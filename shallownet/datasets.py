"""Binary classification data sets, columns as examples: X (n_x, m), Y (1, m).

``flower`` is the course's planar data set, generated exactly as the course
generates it. ``circles`` and ``moons`` reproduce scikit-learn's
``make_circles`` / ``make_moons`` bit for bit for the same seed (they draw from
``np.random.RandomState(seed)`` in the same order) without depending on it.
Each generator owns its random state; none touches numpy's global one.

Data sets are plugins too: ``sn.datasets.register("name", fn)`` where
``fn(**params) -> (X, Y)``, or the entry-point group ``shallownet.datasets``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .registry import Registry

Array = NDArray[np.float64]
Loader = Callable[..., tuple[Array, Array]]

_registry: Registry[Loader] = Registry("dataset", "shallownet.datasets")
register = _registry.register


def names() -> list[str]:
    """Registered data set names, sorted."""
    return _registry.names()


def load(name: str, **params: Any) -> tuple[Array, Array]:
    """Load a registered data set by name: ``load("circles", n_samples=300, noise=0.05)``.

    Whatever a loader returns is checked as data: X of shape (n_x, m) of finite numbers
    and Y of shape (1, m); a nan or an inf in the features is the data's fault, and
    named as such, not left to surface in training as a diverging cost."""
    X, Y = _registry.get(name)(**params)
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.shape != (1, X.shape[-1]):
        msg = (
            f"data set {name!r} returned X of shape {X.shape} and Y of shape {Y.shape}; "
            f"it must return X (n_x, m) and Y (1, m), one column per example"
        )
        raise ValueError(msg)
    bad = int(np.size(X) - np.count_nonzero(np.isfinite(X)))
    if bad:
        msg = (
            f"data set {name!r} returned {bad} feature value(s) that are not finite "
            f"(nan or inf); features must be finite numbers"
        )
        raise ValueError(msg)
    return X, Y


def _check_n(value: object, minimum: int = 2, name: str = "n_samples") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _check_noise(noise: object) -> float | None:
    if noise is None:
        return None
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        msg = f"noise must be a number >= 0 (standard deviation), got {noise!r}"
        raise ValueError(msg)
    return float(noise)


def _columns(X_rows: Array, y: NDArray[Any]) -> tuple[Array, Array]:
    """From scikit-learn's layout (m, n_x), (m,) to the course's (n_x, m), (1, m)."""
    return np.ascontiguousarray(X_rows.T, dtype=np.float64), y.reshape(1, -1).astype(np.float64)


@register("flower")
def flower(n_samples: int = 400, seed: int = 1) -> tuple[Array, Array]:
    """The course's planar "flower": two classes of petals, m = 400 by default.

    For class j in (0, 1), N = m/2 points: ``t = linspace(3.12 j, 3.12 (j+1), N)
    + randn(N) * 0.2``, ``r = 4 sin(4t) + randn(N) * 0.2``, point ``(r sin t, r cos t)``.
    """
    m = _check_n(n_samples)
    rs = np.random.RandomState(seed)
    N = m // 2
    a = 4  # maximum ray of the flower
    X = np.zeros((2 * N, 2))
    y = np.zeros(2 * N)
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rs.randn(N) * 0.2  # theta
        r = a * np.sin(4 * t) + rs.randn(N) * 0.2  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return _columns(X, y)


def _shuffle_and_noise(
    X: Array, y: NDArray[Any], rs: np.random.RandomState, noise: float | None
) -> tuple[Array, Array]:
    # Same draws, same order as sklearn.utils.shuffle followed by the noise.
    indices = np.arange(len(y))
    rs.shuffle(indices)
    X, y = X[indices], y[indices]
    if noise is not None:
        X += rs.normal(scale=noise, size=X.shape)
    return _columns(X, y)


@register("circles")
def circles(
    n_samples: int = 100, noise: float | None = None, factor: float = 0.8, seed: int = 1
) -> tuple[Array, Array]:
    """A small circle inside a large one (``sklearn.datasets.make_circles``)."""
    m = _check_n(n_samples)
    noise = _check_noise(noise)
    if not 0 <= factor < 1:
        msg = f"factor must be in [0, 1) (inner radius / outer radius), got {factor!r}"
        raise ValueError(msg)
    n_out = m // 2
    n_in = m - n_out
    lin_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    lin_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack(
        [
            np.append(np.cos(lin_out), np.cos(lin_in) * factor),
            np.append(np.sin(lin_out), np.sin(lin_in) * factor),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffle_and_noise(X, y, np.random.RandomState(seed), noise)


@register("moons")
def moons(n_samples: int = 100, noise: float | None = None, seed: int = 1) -> tuple[Array, Array]:
    """Two interleaving half circles (``sklearn.datasets.make_moons``)."""
    m = _check_n(n_samples)
    noise = _check_noise(noise)
    n_out = m // 2
    n_in = m - n_out
    X = np.vstack(
        [
            np.append(
                np.cos(np.linspace(0, np.pi, n_out)), 1 - np.cos(np.linspace(0, np.pi, n_in))
            ),
            np.append(
                np.sin(np.linspace(0, np.pi, n_out)),
                1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5,
            ),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffle_and_noise(X, y, np.random.RandomState(seed), noise)


@register("blobs")
def blobs(n_samples: int = 200, spread: float = 1.0, seed: int = 1) -> tuple[Array, Array]:
    """Two Gaussian blobs centred at (-1.5, -1.5) and (1.5, 1.5), std ``spread``."""
    m = _check_n(n_samples)
    if not spread > 0:
        msg = f"spread must be > 0, got {spread!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    centers = np.where(y[:, None] == 1, 1.5, -1.5)
    X = centers + rng.standard_normal((m, 2)) * spread
    return _columns(X, y)


@register("xor")
def xor(n_samples: int = 200, noise: float = 0.0, seed: int = 1) -> tuple[Array, Array]:
    """Points in [-1, 1]², label 1 where x1 and x2 have the same sign (not linearly separable)."""
    m = _check_n(n_samples)
    scale = _check_noise(noise) or 0.0
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(m, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.intp)
    X = X + rng.standard_normal((m, 2)) * scale
    return _columns(X, y)


@register("gaussian_quantiles")
def gaussian_quantiles(
    n_samples: int = 200, n_features: int = 2, seed: int = 1
) -> tuple[Array, Array]:
    """A standard Gaussian in ``n_features`` dimensions split by radius into two equal
    halves, inner 0 and outer 1 (``sklearn.datasets.make_gaussian_quantiles``, two
    classes). Every feature is on a standard scale, so a hidden unit's pre-activation
    has variance about ``n_features * scale²`` under ``randn * scale`` weights: the data
    on which fan-in decides saturation."""
    m = _check_n(n_samples)
    n = _check_n(n_features, minimum=1, name="n_features")
    rs = np.random.RandomState(seed)
    X = rs.multivariate_normal(np.zeros(n), np.identity(n), (m,))
    X = X[np.argsort(np.sum(X**2, axis=1))]
    step = m // 2
    y = np.hstack([np.repeat([0, 1], step), np.repeat(1, m - 2 * step)]).astype(np.intp)
    return _shuffle_and_noise(X, y, rs, None)


@register("csv")
def from_csv(path: str | Path, label: str = "label") -> tuple[Array, Array]:
    """A user's CSV: numeric feature columns plus a 0/1 ``label`` column, one example per row."""
    import pandas as pd

    path = Path(path)
    _check_csv_path(path)
    frame = _read_table(path)
    if label not in frame.columns:
        msg = (
            f"CSV file {str(path)!r} has no label column {label!r}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
        raise ValueError(msg)
    features = [c for c in frame.columns if c != label]
    if frame.empty:
        msg = f"CSV file {str(path)!r} has no examples (only a header); add one row per example"
        raise ValueError(msg)
    if not features:
        msg = f"CSV file {str(path)!r} has no feature columns besides {label!r}"
        raise ValueError(msg)
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            msg = (
                f"CSV file {str(path)!r}: column {column!r} has a non-numeric value "
                f"{frame[column].iloc[row]!r} on line {row + 2}"
            )
            raise ValueError(msg)
        missing = values.isna()
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            msg = (
                f"CSV file {str(path)!r}: column {column!r} has a missing value on line {row + 2}"
            )
            raise ValueError(msg)
        infinite = np.isinf(values.to_numpy(dtype=np.float64))
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            msg = (
                f"CSV file {str(path)!r}: column {column!r} has an infinite value "
                f"{str(frame[column].iloc[row])!r} on line {row + 2}; use finite numbers"
            )
            raise ValueError(msg)
    y = frame[label].to_numpy(dtype=np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        found = ", ".join(f"{v:g}" for v in np.unique(y[~np.isin(y, (0.0, 1.0))])[:5])
        msg = (
            f"CSV file {str(path)!r}: label column {label!r} must hold 0 and 1 only, found {found}"
        )
        raise ValueError(msg)
    return _columns(frame[features].to_numpy(dtype=np.float64), y)


def _check_csv_path(path: Path) -> None:
    """``path`` names a file there is (ValueError in one line otherwise)."""
    try:
        path.stat()
    except FileNotFoundError:
        pass  # said below
    except OSError as exc:  # a name the filesystem refuses (longer than 255 bytes), ...
        msg = f"CSV file {str(path)!r}: {exc.strerror or exc}; give the path of a .csv file"
        raise ValueError(msg) from None
    if path.is_dir():
        msg = f"CSV file {str(path)!r} is a folder; give the path of a .csv file"
        raise ValueError(msg)
    if not path.is_file():
        msg = f"CSV file {str(path)!r} does not exist"
        raise ValueError(msg)


def _read_table(path: Path) -> Any:
    """A CSV file as a pandas frame of one column per header name, refused in a line of
    our own where pandas would guess: rows longer than the header (pandas would take the
    first values as an index and shift every column), a column without a name (an index
    ``to_csv`` wrote: it would become a feature), ragged rows, no text, not UTF-8."""
    import pandas as pd

    where = f"CSV file {str(path)!r}"
    try:
        with warnings.catch_warnings():  # a row longer than the header: refused, not cut
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, index_col=False)
    except pd.errors.ParserWarning:
        msg = (
            f"{where}: its rows have more values than its header has names; give every "
            "column a name (or remove the extra values)"
        )
        raise ValueError(msg) from None
    except pd.errors.EmptyDataError:
        msg = f"{where} is empty; write a header (the features, then 'label') and one row each"
        raise ValueError(msg) from None
    except pd.errors.ParserError as exc:
        said = str(exc).strip().rstrip(".").removeprefix("Error tokenizing data. C error: ")
        msg = f"{where} is not a table: {said}; give every row one value per column"
        raise ValueError(msg) from None
    except UnicodeDecodeError as exc:
        msg = (
            f"{where} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        )
        raise ValueError(msg) from None
    # pandas renames a repeated name (label, label.1): the copy would become a feature
    names = pd.read_csv(path, header=None, nrows=1, dtype=str, index_col=False).iloc[0]
    first: dict[str, int] = {}
    for n, name in enumerate(names, 1):
        if name in first:
            msg = (
                f"{where}: column name {name!r} appears twice (columns {first[name]} and {n}); "
                "give each column its own name"
            )
            raise ValueError(msg)
        first[name] = n
    unnamed = [n for n, c in enumerate(frame.columns, 1) if str(c).startswith("Unnamed: ")]
    if unnamed:
        msg = (
            f"{where}: column {unnamed[0]} has no name (an index written by pandas' to_csv? "
            "it would be taken for a feature); name it, or write the file with index=False"
        )
        raise ValueError(msg)
    return frame


def split(
    X: Array, Y: Array, test_fraction: float = 0.25, seed: int = 0
) -> tuple[Array, Array, Array, Array]:
    """Shuffle the m examples and split them: ``X_train, Y_train, X_test, Y_test``."""
    if not 0 < test_fraction < 1:
        msg = f"test_fraction must be in (0, 1), got {test_fraction!r}"
        raise ValueError(msg)
    m = X.shape[1]
    n_test = round(m * test_fraction)
    if not 0 < n_test < m:
        msg = f"test_fraction={test_fraction} leaves no train or no test example of m={m}"
        raise ValueError(msg)
    order = np.random.default_rng(seed).permutation(m)
    test, train = order[:n_test], order[n_test:]
    return X[:, train], Y[:, train], X[:, test], Y[:, test]
