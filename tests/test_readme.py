"""The Python shown in the README and in docs/python.md runs as shown, top to bottom."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shallownet as sn

REPO = Path(__file__).parents[1]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.slow  # each page sweeps from Python (sn.sweep): real sweeps, into a real store
@pytest.mark.parametrize("page", ["README.md", "docs/python.md"])
def test_the_python_of_a_page_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _blocks(REPO / page)
    assert blocks, page
    monkeypatch.chdir(tmp_path)  # files a block writes (network.svg) land here
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            exec(compile(block, page, "exec"), namespace)
        registered = ("orthogonal" in sn.initializers, "softsign" in sn.activations)
    finally:
        for registry, name in ((sn.initializers, "orthogonal"), (sn.activations, "softsign")):
            if name in registry:
                registry.unregister(name)
    hist = namespace["hist"]
    assert isinstance(hist, sn.History)
    assert hist.status == "FINISHED"
    assert hist.final_cost < 0.3  # the course network learns the flower
    assert registered == (True, True)  # both plugins of the page were registered
    study = namespace["study"]  # each page sweeps from Python, then reads the sweep back
    assert isinstance(study, sn.study.Study)
    assert study.status == "FINISHED"
    assert set(study.runs["status"]) == {"FINISHED"}
