"""Commands printed for the user to paste: absolute, and on a port that is free.

A printed ``mlflow ui ...`` or ``shallownet-report ...`` must run as printed in a fresh
shell, with no virtual environment activated: each names the executable of the
environment shallownet runs in by its absolute path. The UI's port is the first free one
from 5000, checked when the line is printed (``mlflow ui`` on a taken port logs "Address
already in use" and exits 0).
"""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path


def executable(script: str, module: str) -> str:
    """A console script of this environment (``mlflow``), by its absolute path, quoted for
    a shell; ``python -m <module>`` where the script is not beside this Python."""
    beside = Path(sys.executable).parent / script
    if beside.is_file():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m {module}"


def free_port(host: str, preferred: int, tries: int = 100) -> int:
    """``preferred``, or the next port after it that nothing listens on at ``host``
    (``preferred`` itself if none of ``tries`` is free)."""
    for port in range(preferred, preferred + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return preferred
