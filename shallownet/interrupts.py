"""Signals that stop a command: Ctrl-C (SIGINT), SIGTERM and SIGHUP.

Each raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread,
so the same code ends every run KILLED with the reason and the command exits
with the shell's code for the signal: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
After the first, further ones are ignored (a second Ctrl-C too) so that the
runs can be ended; ``kill -9`` still stops the process at once (its runs are
then ended by the next command on the store: see ``tracking.owner``).

A ``KeyboardInterrupt`` that is not an :class:`Interrupted`, or a ``SystemExit``,
raised inside plugin code is no signal: :func:`plugin_faults` makes it a
:class:`PluginExit`, a fault of that plugin's jobs alone.

An exception raised by a signal handler is lost when the signal arrives while
Python runs a destructor or a weakref callback, so the signal is also kept:
training calls :func:`check` (through :class:`StopOnSignal`) and stops there.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from . import processes, slurm
from .train import Callback, TrainState

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# In a Slurm job, also the warning Slurm sends before the job's time limit (submitit asks
# for SIGUSR2, 90 s before): the runs end KILLED saying so, not as a fault of training
TIME_LIMIT = signal.SIGUSR2


class Interrupted(KeyboardInterrupt):
    """The command was stopped by a signal."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        return Interrupted, (self.signum,)  # from a worker process, as it was raised


_pending: int | None = None  # the signal received, until the process stops
_held: int | None = None  # a signal received inside deferred(), raised as it ends
_deferring = 0


def _raise(signum: int, frame: FrameType | None) -> None:
    global _pending, _held
    _pending = signum
    for sig in (*HANDLED, TIME_LIMIT):
        signal.signal(sig, _ignore)  # one is enough: let the runs be ended
    if _deferring:
        _held = signum
        return
    raise Interrupted(signum)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal after the first: ignored. A handler, not SIG_IGN: a signal that arrived
    just before the first one's handler ran would otherwise be printed as "Signal 15
    ignored due to race condition" (CPython finds SIG_IGN where it expected a handler)."""


def _quiet_when_kept(unraisable: sys.UnraisableHookArgs) -> None:
    """An :class:`Interrupted` raised where Python cannot raise it (a destructor, a
    weakref callback) is no error to print: the signal is kept, and :func:`check` raises
    it. Anything else goes to the hook there was."""
    if isinstance(unraisable.exc_value, Interrupted):
        return
    _hook_before(unraisable)


_hook_before = sys.unraisablehook


@contextmanager
def deferred() -> Iterator[None]:
    """Finish a block that must not stop halfway (a sweep's parent run ending with its
    children's statuses): a signal arriving meanwhile is raised as the block ends."""
    global _deferring, _held
    _deferring += 1
    try:
        yield
    except BaseException:  # the block's own error goes on (the signal stays in _pending)
        _deferring -= 1
        _held = None if not _deferring else _held
        raise
    _deferring -= 1
    if not _deferring and _held is not None:
        signum, _held = _held, None
        raise Interrupted(signum)


def install(time_limit: bool = False) -> None:
    """Handle SIGTERM and SIGHUP in this process (from its main thread; else a no-op),
    and with ``time_limit`` (in a Slurm job) Slurm's warning of its time limit.

    A signal the process was started ignoring stays ignored (``nohup shallownet -m
    ...`` must survive the terminal closing), as Python itself does for SIGINT.
    """
    global _hook_before
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN or _pending is not None:
            signal.signal(sig, _raise)
    if time_limit:
        signal.signal(TIME_LIMIT, _raise)
    if sys.unraisablehook is not _quiet_when_kept:
        _hook_before, sys.unraisablehook = sys.unraisablehook, _quiet_when_kept


@contextmanager
def installed() -> Iterator[None]:
    """Handle SIGTERM and SIGHUP for the time of a block (a sweep called from Python, a
    notebook's kernel): the handlers the process had before come back after it."""
    global _pending, _held
    before = {sig: signal.getsignal(sig) for sig in HANDLED}
    hook = sys.unraisablehook
    install()
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in before.items():
                signal.signal(sig, handler)
            sys.unraisablehook = hook
        _pending = _held = None


class PluginExit(RuntimeError):
    """Plugin code raised ``SystemExit`` or a ``KeyboardInterrupt`` no signal caused."""


@contextmanager
def kept_handlers() -> Iterator[None]:
    """Run plugin code that may change how this process takes signals (a plugin that
    sets SIGTERM to SIG_IGN would make the command unstoppable): the handlers of the
    signals that stop a command are as they were once the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (*HANDLED, TIME_LIMIT)}
    try:
        yield
    finally:
        if _pending is None:  # after a signal, its handler's choice stands: one is enough
            for sig, handler in before.items():
                if signal.getsignal(sig) is not handler and handler is not None:
                    signal.signal(sig, handler)


@contextmanager
def plugin_faults() -> Iterator[None]:
    """Run plugin code (a data set, an initializer, an activation, a plugin module):
    ``sys.exit()`` or ``raise KeyboardInterrupt`` in it is that code's fault
    (:class:`PluginExit`), not the command's end; a real signal stays a signal; the
    command's signal handlers are kept (:func:`kept_handlers`)."""
    try:
        with kept_handlers():
            yield
    except SystemExit as exc:
        msg = f"plugin code raised SystemExit({exc.code!r})"
        raise PluginExit(msg) from exc
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or _pending is not None:
            raise
        msg = "plugin code raised KeyboardInterrupt (no signal was received)"
        raise PluginExit(msg) from exc


def check() -> None:
    """Raise :class:`Interrupted` if a handled signal arrived (and its exception was lost)."""
    if _pending is not None:
        raise Interrupted(_pending)


@functools.cache  # once per process
def die_with_parent(
    leader: str | None = None, poll_seconds: float = 1.0, grace_seconds: float = 20.0
) -> None:
    """When the process that launched this one dies (even of ``kill -9``), stop as on
    SIGTERM, and exit at the latest ``grace_seconds`` later, instead of training on as
    an orphan. That process is this one's parent (a worker of the batched launcher or of
    Hydra's joblib launcher), or ``leader`` (named as :mod:`shallownet.processes` names
    it), where another stands between them: submitit's local runner, for its jobs."""
    parent = os.getppid()

    def launcher_runs() -> bool:
        return os.getppid() == parent if leader is None else processes.alive(leader)

    def watch() -> None:
        while launcher_runs():
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="shallownet-orphan-watch", daemon=True).start()


class StopOnSignal(Callback):
    """Training callback: stop at the next due step once SIGTERM or SIGHUP arrived."""

    def __init__(self, every: int) -> None:
        self.every = every

    def on_step(self, state: TrainState) -> None:
        check()


def signal_of(exc: KeyboardInterrupt) -> int:
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def reason(exc: KeyboardInterrupt) -> str:
    """Why a run was KILLED: ``interrupted by SIGTERM`` (and in a Slurm job, which, and
    what Slurm's signals mean)."""
    signum = signal_of(exc)
    job = slurm.this_job()
    if job is not None and signum == TIME_LIMIT:
        return f"Slurm job {job} reached its time limit (its warning signal, SIGUSR2)"
    said = f"interrupted by {signal.Signals(signum).name}"
    if job is not None and signum == signal.SIGTERM:
        return f"{said} in Slurm job {job} (scancel, preemption or its time limit)"
    return said


def ends_its_runs(in_sweep: bool) -> bool:
    """Whether this process ends its open runs KILLED when interrupted. A sweep's worker
    does not: the sweep's parent run ends its children still RUNNING, one writer (where
    every worker at once would contend for SQLite), with the sweep's reason (a worker
    only knows the SIGTERM the sweep sent it). A single run's process does, and so does
    a Slurm job (Slurm may have stopped it alone: the sweep's reason would not say why),
    into a server that takes concurrent writers."""
    return not in_sweep or slurm.this_job() is not None


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's exit code for a process stopped by this signal (128 + its number)."""
    return 128 + signal_of(exc)


def exiting(exc: KeyboardInterrupt) -> int:
    """:func:`exit_code`, for a command that exits with it now: from here to its end the
    signals that stop a command are ignored. Python's finalization gives a signal with a
    Python handler its default action back, and a second Ctrl-C that reached the exiting
    command killed it (-2, not its 130)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (*HANDLED, TIME_LIMIT):
            signal.signal(sig, signal.SIG_IGN)
    return exit_code(exc)


class _ReaderGone:
    """Standard output that, once its reader has gone (``shallownet -m ... | head``),
    drops what is written, where every print and log line would raise BrokenPipeError:
    the command goes on to its end, its runs recorded, and says nothing more there."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # the interpreter's last flush goes nowhere
        os.close(devnull)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def quiet_when_stdout_closes() -> None:
    """Make ``sys.stdout`` a :class:`_ReaderGone` (once; before logging is configured,
    so that its handlers write through it)."""
    if not isinstance(sys.stdout, _ReaderGone):
        sys.stdout = _ReaderGone(sys.stdout)
