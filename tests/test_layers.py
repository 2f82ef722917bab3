"""Layers point one way (pyproject.toml's import-linter contracts) and no module of the
package is part of an import cycle, counting imports inside functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).parents[1]
PACKAGES = ("shallownet", "hydra_plugins.shallownet_hydra")


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


def test_no_module_is_part_of_an_import_cycle() -> None:
    graph = grimp.build_graph("shallownet", "hydra_plugins", include_external_packages=False)
    ours = sorted(m for m in graph.modules if m.startswith(PACKAGES))
    cycles = [
        (a, b)
        for i, a in enumerate(ours)
        for b in ours[i + 1 :]
        if graph.find_shortest_chain(a, b) and graph.find_shortest_chain(b, a)
    ]
    assert cycles == []


def test_tracking_and_the_report_load_neither_hydra_nor_omegaconf() -> None:
    code = (
        "import sys, shallownet.report, shallownet.report.cli, shallownet.tracking.run, "
        "shallownet.tracking.parent, shallownet.tracking.claim\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
