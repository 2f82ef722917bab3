"""Make plugins from the user's own modules visible to the command line.

``SHALLOWNET_PLUGINS`` names modules to import before the configuration is
composed, separated by commas: importable module names (``my_plugins``,
found from the current directory or ``PYTHONPATH``) or paths to Python files
(``experiments/custom_plugins/plugins.py``). Each module registers its plugins
as it is imported::

    SHALLOWNET_PLUGINS=my_plugins shallownet -m init=orthogonal,he

The command line rewrites relative entries to absolute ones in the
environment, so worker processes of parallel launchers (which inherit it and
may start elsewhere) import the very same files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from .interrupts import plugin_faults
from .registry import registering_by_import

ENV_VAR = "SHALLOWNET_PLUGINS"


class PluginModuleError(ImportError):
    """A module named in SHALLOWNET_PLUGINS could not be imported."""


def _entries(spec: str) -> list[str]:
    return [e.strip() for e in spec.split(",") if e.strip()]


def _is_path(entry: str) -> bool:
    return entry.endswith(".py") or os.sep in entry


def absolutize(spec: str, base: Path) -> str:
    """Rewrite relative file paths in a SHALLOWNET_PLUGINS value against ``base``."""
    out = []
    for entry in _entries(spec):
        out.append(str((base / entry).resolve()) if _is_path(entry) else entry)
    return ",".join(out)


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"shallownet_user_plugins.{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        msg = f"{ENV_VAR}: plugin file {str(path)!r} does not exist"
        raise PluginModuleError(msg)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        msg = f"{ENV_VAR}: cannot import {str(path)!r} as a Python module"
        raise PluginModuleError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with plugin_faults():
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _broken(str(path), exc) from exc
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _broken(entry: str, exc: Exception) -> PluginModuleError:
    """A plugin module that exists but fails while it is imported, as one line."""
    if isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}: {exc.msg}"
    else:
        where = f"{type(exc).__name__}: {exc}".splitlines()[0]
    msg = f"{ENV_VAR}: plugin module {entry!r} failed to import ({where}); fix it or remove it"
    return PluginModuleError(msg)


def import_plugin_modules(spec: str | None = None) -> list[ModuleType]:
    """Import every module named in ``spec`` (default: the SHALLOWNET_PLUGINS variable).

    Idempotent: a module already imported is not imported again.
    """
    spec = os.environ.get(ENV_VAR, "") if spec is None else spec
    with registering_by_import():  # every process imports these: nothing to carry
        return [_import_entry(entry) for entry in _entries(spec)]


def _import_entry(entry: str) -> ModuleType:
    """One entry of SHALLOWNET_PLUGINS, imported."""
    if _is_path(entry):
        return _import_file(Path(entry).resolve())
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        with plugin_faults():
            return importlib.import_module(entry)
    except ModuleNotFoundError as exc:
        if exc.name is not None and entry.startswith(exc.name):
            msg = (
                f"{ENV_VAR}: cannot import plugin module {entry!r} ({exc}); "
                f"give a module on PYTHONPATH or a path to a .py file"
            )
            raise PluginModuleError(msg) from exc
        raise _broken(entry, exc) from exc
    except Exception as exc:
        raise _broken(entry, exc) from exc
