"""Ctrl-C that always stops the run, and never in the middle of writing a file.

LibCST (and other code that catches broad exceptions) can turn a KeyboardInterrupt
into another exception; the flag set here lets the engine tell such an error from a
bug of ours. A write runs inside `deferred()`: an interrupt during it waits until the
file is complete. After the first Ctrl-C, further ones are noted, not raised, so the
cleanup (stopping workers, the closing message) is not itself interrupted.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_state = {"hit": False, "deferring": 0, "pending": False}


@contextmanager
def handled() -> Iterator[None]:
    """Handle SIGINT this way during the block (in the main thread, where signals
    arrive). After a Ctrl-C, SIGINT stays ignored: the process is on its way out, and
    Python's own shutdown would otherwise restore the default that kills it mid-exit."""
    _state.update(hit=False, deferring=0, pending=False)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if _state["hit"] else previous)
        _state.update(hit=False, deferring=0, pending=False)


@contextmanager
def held() -> Iterator[None]:
    """Block SIGINT during the block (it arrives after it), so that worker processes
    started in it begin with SIGINT blocked until they `ignore()` it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def ignore() -> None:
    """For worker processes: a Ctrl-C reaches the whole process group, and the
    parent handles it by stopping them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def interrupted() -> bool:
    return bool(_state["hit"])


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed (whatever became of the exception)."""
    if _state["hit"]:
        raise KeyboardInterrupt


def _handler(signum, frame) -> None:
    if _state["hit"]:
        return
    _state["hit"] = True
    if _state["deferring"]:
        _state["pending"] = True
        return
    raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block is done, then raise it."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
    if not _state["deferring"] and _state["pending"]:
        _state["pending"] = False
        raise KeyboardInterrupt

