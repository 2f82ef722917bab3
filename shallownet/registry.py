"""A registry of named plugins: one type serves initializers and activations.

A plugin is known by one string everywhere: its registry key is the Hydra
group option (``init=he``), the MLflow param value and the report column value.

Plugins arrive three ways, all equal once registered:

- built in: registered when :mod:`shallownet` is imported;
- programmatically: ``registry.register("name", obj)`` or as a decorator;
- from installed packages: entry points in the registry's group (for example
  ``[project.entry-points."shallownet.initializers"] orthogonal = "pkg.mod:fn"``),
  loaded the first time the registry is asked for a name.

A process started afresh (a worker of a parallel launcher) registers the built-ins, the
entry points and the modules named in ``SHALLOWNET_PLUGINS`` by itself; the plugins
registered by a call anywhere else (``__main__``, a notebook cell) it has only if they
are carried to it: :meth:`Registry.registered_here` lists those.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class PluginError(ValueError):
    """A plugin broke its contract, or a registration was refused."""


class UnknownPluginError(PluginError, LookupError):
    """No plugin is registered under the requested name."""


def keyword_parameters(fn: Callable[..., Any], skip: int = 0) -> dict[str, Any]:
    """A plugin function's parameters after the first ``skip``, with their defaults
    (None for a parameter without one)."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    return {
        p.name: (None if p.default is p.empty else p.default)
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


_imports_running = 0  # > 0 while the modules named in SHALLOWNET_PLUGINS are imported


@contextmanager
def registering_by_import() -> Iterator[None]:
    """Registrations made inside come from importing modules every process imports
    (those named in ``SHALLOWNET_PLUGINS``): not carried to workers."""
    global _imports_running
    _imports_running += 1
    try:
        yield
    finally:
        _imports_running -= 1


def defining_module(obj: object) -> str:
    """The name of the module that defines a plugin (an Activation: its forward)."""
    target = getattr(obj, "forward", obj)  # an Activation is described by its forward
    return str(getattr(target, "__module__", None) or "?")


def _origin_of(obj: object) -> str:
    """Where an object was defined, for messages about duplicates."""
    target = getattr(obj, "forward", obj)
    module = defining_module(obj)
    qualname = getattr(target, "__qualname__", type(target).__name__)
    try:
        line = inspect.getsourcelines(target)[1]  # type: ignore[arg-type]
        file = inspect.getsourcefile(target)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return f"{module}.{qualname}"
    return f"{module}.{qualname} ({file}:{line})"


class Registry(Generic[T]):
    """Name -> plugin mapping with clear errors.

    Parameters
    ----------
    kind : str
        What the plugins are, for messages ("initializer", "activation").
    group : str
        The entry-point group scanned for plugins from installed packages.
    validate : callable, optional
        ``validate(name, obj)`` raises :class:`PluginError` for an object that
        cannot be a plugin of this kind; called at registration.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        validate: Callable[[str, T], None] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._validate = validate
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._here: set[str] = set()  # registered by a call a fresh process does not make
        self._entry_points_loaded = False

    # -- registration ---------------------------------------------------------

    @overload
    def register(
        self, name: str, obj: None = None, *, overwrite: bool = ...
    ) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, overwrite: bool = ...) -> T: ...

    def register(
        self, name: str, obj: T | None = None, *, overwrite: bool = False
    ) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        A name that is already taken is refused unless ``overwrite=True``; the
        message says where the first registration came from.
        """
        if obj is None:

            def decorator(fn: T) -> T:
                self.register(name, fn, overwrite=overwrite)
                return fn

            return decorator
        self._add(name, obj, origin=_origin_of(obj), overwrite=overwrite)
        builtin = defining_module(obj).startswith("shallownet.")
        if _imports_running or builtin:
            self._here.discard(name)
        else:
            self._here.add(name)
        return obj

    def _add(self, name: str, obj: T, *, origin: str, overwrite: bool) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            msg = (
                f"{self.kind} name must be a Python identifier (letters, digits, _), got {name!r}"
            )
            raise PluginError(msg)
        if name in self._items and not overwrite:
            msg = (
                f"{self.kind} {name!r} is already registered (by {self._origins[name]}); "
                f"pass overwrite=True to replace it"
            )
            raise PluginError(msg)
        if self._validate is not None:
            self._validate(name, obj)
        self._items[name] = obj
        self._origins[name] = origin

    def unregister(self, name: str) -> None:
        """Remove a plugin (tests and interactive sessions use this)."""
        self._load_entry_points()
        if name not in self._items:
            raise self._unknown(name)
        del self._items[name]
        del self._origins[name]
        self._here.discard(name)

    # -- lookup ---------------------------------------------------------------

    def get(self, name: str) -> T:
        """The plugin registered as ``name``; an unknown name lists the valid ones."""
        self._load_entry_points()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self._unknown(name) from None

    def origin(self, name: str) -> str:
        """Where the plugin ``name`` was registered from."""
        self.get(name)
        return self._origins[name]

    def registered_here(self) -> dict[str, T]:
        """The plugins registered in this process by a call that a process started afresh
        does not make: not shallownet's own, not from entry points, not from the modules
        named in ``SHALLOWNET_PLUGINS`` (a notebook cell's, ``__main__``'s, a module's the
        caller imported). Workers of a parallel launcher get these carried to them."""
        return {name: self._items[name] for name in sorted(self._here)}

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _unknown(self, name: object) -> UnknownPluginError:
        valid = self.names()
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = f"unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(valid)}"
        return UnknownPluginError(msg)

    # -- entry points ---------------------------------------------------------

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True  # set first: a plugin may look itself up
        for ep in entry_points(group=self.group):
            self._add(ep.name, self._load(ep), origin=_describe(ep), overwrite=False)

    def _load(self, ep: EntryPoint) -> T:
        try:
            obj: T = ep.load()
        except Exception as exc:
            msg = f"cannot load {self.kind} plugin from {_describe(ep)}: {exc!r}"
            raise PluginError(msg) from exc
        except SystemExit as exc:  # its module exits as it is imported: not the command's end
            msg = (
                f"cannot load {self.kind} plugin from {_describe(ep)}: its module called "
                f"sys.exit({exc.code!r}) as it was imported; fix or uninstall its package"
            )
            raise PluginError(msg) from exc
        return obj


def _describe(ep: EntryPoint) -> str:
    dist = f" of {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    return f"entry point {ep.name} = {ep.value!r}{dist}"
