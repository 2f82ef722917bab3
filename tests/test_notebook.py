"""The tutorial notebook (docs/tutorial.ipynb) runs top to bottom in a real Jupyter kernel,
its checks hold, and the copy stored with its outputs is the one it produces.

Refresh the stored outputs after changing the notebook (about half a minute):

    python -m tests.test_notebook
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def read(notebook: Path) -> NotebookNode:
    nb: NotebookNode = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    return nb


def execute(notebook: Path, cwd: Path) -> NotebookNode:
    """The notebook run top to bottom in a fresh kernel (started from this Python), in
    ``cwd``; a cell that raises stops it with nbclient's CellExecutionError."""
    nb = read(notebook)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def _text(cell: NotebookNode) -> str:
    """What a code cell printed or showed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


@pytest.mark.slow
def test_the_tutorial_runs_top_to_bottom_and_shows_its_lessons(tmp_path: Path) -> None:
    nb = execute(NOTEBOOK, tmp_path)
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    shown = "\n".join(_text(cell) for cell in cells)
    assert "J = 33.0; dJ/da = 3.0, dJ/db = 6.0, dJ/dc = 9.0" in shown
    assert "lecun" in shown  # registered in a cell, listed with the built-ins
    assert "shallownet: 30 runs (30 FINISHED) under parent run" in shown
    # figures drawn inline: the graph, the cost curves, the summary
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3
    # the last cell prints the two commands that open the sweep's view
    serve, url = _text(cells[-1]).splitlines()
    port = url.removeprefix("http://127.0.0.1:").partition("/")[0]  # free when printed
    assert serve.endswith(
        f"--backend-store-uri sqlite:///{tmp_path}/mlflow.db --host 127.0.0.1 --port {port}"
    )
    assert url.startswith(f"http://127.0.0.1:{port}/#/experiments/")
    assert "viewStateShareKey=" in url
    runs = {p.name for p in (tmp_path / "multirun").glob("*/*/*") if p.is_dir()}
    assert len(runs) == 30 + 1  # each job's folder, and the batches'


def test_the_stored_tutorial_has_the_outputs_of_a_run_without_errors() -> None:
    """The copy in the repository reads on GitHub: every code cell ran, in order, none
    failed."""
    nb = read(NOTEBOOK)
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert all(o.output_type != "error" for c in cells for o in c.get("outputs", []))
    assert "shallownet: 30 runs (30 FINISHED)" in "\n".join(_text(c) for c in cells)


if __name__ == "__main__":  # python -m tests.test_notebook: refresh the stored outputs
    with tempfile.TemporaryDirectory(prefix="shallownet-tutorial-") as folder:
        started = time.monotonic()
        ran = execute(NOTEBOOK, Path(folder))
        took = time.monotonic() - started
        nbformat.write(ran, NOTEBOOK)  # type: ignore[no-untyped-call]
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{NOTEBOOK}: ran in {took:.0f} s, outputs stored", file=sys.stderr)
