"""The generic registry: registration, lookup, duplicates, unknown names."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import shallownet as sn
from shallownet.registry import PluginError, Registry, UnknownPluginError


def test_builtin_names_are_sorted_and_complete() -> None:
    assert sn.initializers.names() == [
        "constant",
        "he",
        "normal",
        "standard",
        "uniform",
        "xavier",
        "zeros",
    ]
    assert sn.activations.names() == ["identity", "leaky_relu", "relu", "sigmoid", "tanh"]
    assert "zeros" in sn.initializers
    assert "nope" not in sn.initializers


def test_register_as_decorator_and_as_call() -> None:
    reg: Registry[Callable[[int], int]] = Registry("thing", "shallownet.test-none")

    @reg.register("double")
    def double(x: int) -> int:
        return 2 * x

    reg.register("triple", lambda x: 3 * x)
    assert reg.get("double") is double
    assert reg.get("triple")(2) == 6
    assert reg.names() == ["double", "triple"]


def test_duplicate_is_refused_and_names_the_first_registration() -> None:
    with pytest.raises(
        PluginError,
        match=r"initializer 'he' is already registered \(by "
        r"shallownet\.initializers\.he .*initializers\.py:\d+\)",
    ):
        sn.initializers.register("he", lambda shape, rng: np.ones(shape))


def test_overwrite_replaces() -> None:
    ones = sn.initializers.register("he", lambda shape, rng: np.ones(shape), overwrite=True)
    assert sn.initializers.get("he") is ones


def test_unknown_name_lists_valid_names_and_suggests() -> None:
    with pytest.raises(
        UnknownPluginError,
        match=r"^unknown initializer 'hee'\. Did you mean 'he'\? "
        r"Valid names: constant, he, normal, standard, uniform, xavier, zeros$",
    ):
        sn.initializers.get("hee")


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(UnknownPluginError, match=r"^unknown activation 'qqq'\. Valid names: "):
        sn.activations.get("qqq")


def test_name_must_be_an_identifier() -> None:
    with pytest.raises(PluginError, match=r"must be a Python identifier.*'bad name'"):
        sn.initializers.register("bad name", lambda shape, rng: np.zeros(shape))


def test_activation_must_be_an_activation_object() -> None:
    with pytest.raises(PluginError, match=r"activation 'f' must be an sn\.Activation"):
        sn.activations.register("f", np.tanh)  # type: ignore[call-overload]


def _write_distribution(root: Path, ep_lines: str, module: str) -> None:
    """A distribution on sys.path with entry-point metadata, as pip would install it."""
    (root / "snplugin.py").write_text(textwrap.dedent(module))
    info = root / "snplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: snplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ep_lines))


def _run(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={"PYTHONPATH": str(path), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )


def test_entry_point_plugins_appear_without_import(tmp_path: Path) -> None:
    _write_distribution(
        tmp_path,
        """
        [shallownet.initializers]
        orthogonal = snplugin:orthogonal
        [shallownet.activations]
        softsign = snplugin:softsign
        """,
        """
        import numpy as np
        import shallownet as sn

        def orthogonal(shape, rng, gain=1.0):
            q, _ = np.linalg.qr(rng.standard_normal((max(shape), min(shape))))
            return gain * (q if shape[0] >= shape[1] else q.T)[: shape[0], : shape[1]]

        softsign = sn.Activation(
            forward=lambda z: z / (1 + np.abs(z)),
            derivative=lambda z, a: 1 / (1 + np.abs(z)) ** 2,
        )
        """,
    )
    result = _run(
        """
        import shallownet as sn
        print(sn.initializers.names())
        print(sn.activations.names())
        print(sn.initializers.origin("orthogonal"))
        sn.activations.check("softsign")
        X, Y = sn.datasets.flower()
        net = sn.Network(2, [4], activation="softsign", init="orthogonal", seed=0)
        print(round(sn.train(net, X, Y, 1.2, 200).final_cost, 3) < 0.69)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "['constant', 'he', 'normal', 'orthogonal', 'standard', 'uniform', 'xavier', 'zeros']"
    )
    assert "softsign" in lines[1]
    assert lines[2] == "entry point orthogonal = 'snplugin:orthogonal' of snplugin 0.1"
    assert lines[3] == "True"


def test_broken_entry_point_names_it(tmp_path: Path) -> None:
    _write_distribution(
        tmp_path,
        "[shallownet.initializers]\nbroken = snplugin:missing\n",
        "x = 1\n",
    )
    result = _run("import shallownet as sn; sn.initializers.names()", tmp_path)
    assert result.returncode == 1
    assert (
        "PluginError: cannot load initializer plugin from entry point "
        "broken = 'snplugin:missing' of snplugin 0.1: AttributeError"
    ) in result.stderr


def test_an_entry_point_whose_module_exits_is_refused_in_one_line(tmp_path: Path) -> None:
    """Its sys.exit(0) made every command exit 0 with no output (issue "Nothing lost,
    round four")."""
    _write_distribution(
        tmp_path,
        "[shallownet.initializers]\nexiter = snplugin:init\n",
        "import sys\nsys.exit(0)\n",
    )
    result = _run("import shallownet as sn; sn.initializers.names()", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "shallownet.registry.PluginError: cannot load initializer plugin from entry point "
        "exiter = 'snplugin:init' of snplugin 0.1: its module called sys.exit(0) as it was "
        "imported; fix or uninstall its package"
    )


def test_entry_point_clashing_with_builtin_is_refused(tmp_path: Path) -> None:
    _write_distribution(
        tmp_path,
        "[shallownet.initializers]\nhe = snplugin:he\n",
        "import numpy as np\ndef he(shape, rng):\n    return np.ones(shape)\n",
    )
    result = _run("import shallownet as sn; sn.initializers.names()", tmp_path)
    assert result.returncode == 1
    assert "initializer 'he' is already registered (by shallownet.initializers.he" in result.stderr
