"""A real ``mlflow server`` on a free 127.0.0.1 port, stopped with its whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from .cli_helpers import BIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (server, uvicorn and job workers), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)


@contextlib.contextmanager
def mlflow_server(folder: Path, backend: str | None = None) -> Iterator[str]:
    """Start ``mlflow server`` (default: a fresh SQLite backend in ``folder``); yield its URL."""
    with mlflow_server_group(folder, backend) as (url, _):
        yield url


@contextlib.contextmanager
def mlflow_server_group(folder: Path, backend: str | None = None) -> Iterator[tuple[str, int]]:
    """:func:`mlflow_server`, yielding its URL and its process group (to signal it)."""
    port = free_port()
    log = (folder / "mlflow-server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            backend or f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination",
            str(folder / "server-artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so all of it can be stopped
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                msg = f"mlflow server exited early: {(folder / 'mlflow-server.log').read_text()[-2000:]}"
                raise RuntimeError(msg)
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                msg = "mlflow server did not answer /health within 90 s"
                raise RuntimeError(msg)
            time.sleep(0.5)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGCONT)  # a test may have stopped it
        stop_group(proc)
        log.close()
