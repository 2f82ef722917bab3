"""Printed commands run as printed: absolute executables, and the UI on a free port."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shallownet.commands import executable, free_port
from shallownet.tracking.store import UI_HOST, UI_PORT, ui_port

from .cli_helpers import run_cli


@contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    """A server socket listening on ``port`` of 127.0.0.1 (a UI already started there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((UI_HOST, port))
        server.listen()
        yield server


def test_an_executable_is_named_by_its_absolute_path() -> None:
    assert executable("mlflow", "mlflow") == str(Path(sys.executable).parent / "mlflow")
    assert executable("shallownet-report", "shallownet.report.cli") == str(
        Path(sys.executable).parent / "shallownet-report"
    )
    assert executable("no-such-script", "some.module") == f"{sys.executable} -m some.module"


def test_a_port_in_use_is_skipped() -> None:
    start = free_port(UI_HOST, 20000)
    with listening(start):
        assert free_port(UI_HOST, start) > start
    assert free_port(UI_HOST, start) == start  # free again once the server is gone


def test_the_printed_ui_port_is_not_the_one_a_server_holds() -> None:
    port = ui_port()
    with listening(port):
        assert ui_port() > port
    if port == UI_PORT:
        assert ui_port() == UI_PORT


@pytest.mark.slow
def test_the_lines_a_sweep_prints_run_as_printed_in_a_bare_shell(tmp_path: Path) -> None:
    """With 5000 taken (a UI of another store), the sweep's serve and open lines name the
    next free port; the compare line runs in a shell with no environment activated."""
    with listening(ui_port()) as taken:
        held = taken.getsockname()[1]
        result = run_cli("-m", "init=zeros,small", "train.iterations=100", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = dict(re.findall(r"^  (compare|serve|open): +(.+)$", result.stdout, re.MULTILINE))
    serve_port = int(lines["serve"].rpartition("--port ")[2])
    assert serve_port != held
    assert lines["open"].startswith(f"http://127.0.0.1:{serve_port}/#/experiments/1/runs?")
    assert lines["serve"].startswith(str(Path(sys.executable).parent / "mlflow") + " ui ")
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # nothing activated
    compare = subprocess.run(
        ["bash", "-c", lines["compare"]],
        cwd=tmp_path,
        env=bare,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert compare.returncode == 0, compare.stderr
    assert "| init | runs |" in compare.stdout
