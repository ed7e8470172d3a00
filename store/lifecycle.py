"""The process around the ledger: interpreter exit, SIGTERM and fork.

- Exit: every open writer is flushed by an ``atexit`` hook.
- SIGTERM (what orchestrators send before SIGKILL): the handler flushes every writer, then
  does what the program's own handler (installed before ours) or the default would do. When
  the signal lands while the main thread is inside a writer (holding its locks), the flush is
  deferred to the moment that thread leaves the writer (``deferred`` / ``deliver``).
- Fork: deltalake's tokio runtime does not survive ``fork``. A child forked from a process
  that had opened a ledger gets a clear error on first use instead of a panic inside tokio;
  writers in the child start empty (the parent commits its own buffer).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any

from .errors import LedgerError

if TYPE_CHECKING:
    from .buffer import BufferedWriter

log = logging.getLogger("lakeledger.store")

_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()
_runtime_pid: int | None = None  # the process that started deltalake's runtime
inherited_runtime = False  # True in a forked child of that process: deltalake would panic
deferred: int | None = None  # a signal waiting for the main thread to leave a writer
_previous: Any = None  # the SIGTERM handler ours replaced
_installed = False
RESEND_AFTER_S = 0.5


class ForkedProcessError(LedgerError):
    """A ledger used in a process forked after its parent had opened one."""

    exit_code = 2


SPAWN_HINT = (
    "this process was forked from one that had already opened a lakeledger ledger, and "
    "deltalake's runtime does not survive fork. Start worker processes with the 'spawn' "
    "method: multiprocessing.set_start_method('spawn') (or multiprocessing.get_context('spawn')"
    " for a Pool or ProcessPoolExecutor(mp_context=...)), torch DataLoader("
    "multiprocessing_context='spawn'); or open the ledger in the parent only after forking"
)


# -- fork ----------------------------------------------------------------------------------
def mark_runtime() -> None:
    """Called before this process first touches deltalake (``Ledger.open``)."""
    global _runtime_pid
    check_runtime()
    if _runtime_pid is None:
        _runtime_pid = os.getpid()


def check_runtime() -> None:
    if inherited_runtime:
        raise ForkedProcessError(SPAWN_HINT)


def _after_fork_in_child() -> None:
    global inherited_runtime, deferred
    inherited_runtime = _runtime_pid is not None
    deferred = None
    for writer in list(_writers):
        writer._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- writers and exit ----------------------------------------------------------------------


def track(writer: BufferedWriter) -> None:
    _writers.add(writer)
    install_sigterm_handler()


def untrack(writer: BufferedWriter) -> None:
    _writers.discard(writer)


def flush_all() -> None:
    for writer in list(_writers):
        try:
            writer.flush()
        except Exception as exc:  # noqa: BLE001 - reported; the others still flush
            log.error("lakeledger: %d events could not be flushed: %s", writer.pending(), exc)


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_writers):
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - reported; exit must go on
            log.error(
                "lakeledger: %d events could not be flushed at exit: %s", writer.pending(), exc
            )


# -- SIGTERM -------------------------------------------------------------------------------
def install_sigterm_handler() -> bool:
    """Chain our flush in front of the current SIGTERM handler (main thread only: Python
    lets only it install handlers). Ignored SIGTERM, or a handler set from native code, is
    left alone. A handler the program installs later replaces ours; if it exits through
    ``sys.exit``, the ``atexit`` hook still flushes."""
    global _installed, _previous
    if _installed or threading.current_thread() is not threading.main_thread():
        return _installed
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN or previous is None:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    _previous, _installed = previous, True
    return True


# Modules whose code holds a lock the flush needs again: a signal landing in one of them is
# deferred (the buffer delivers it once its locks are released; the resend timer covers the
# others). Seen: SIGTERM inside ``new_event_id`` of a ``log_metric`` call, then the flush's own
# ``new_event_id`` waited forever on the lock the interrupted call held.
_LOCKING_MODULES = frozenset({"lakeledger.store.buffer", "lakeledger.store.ids"})


def _inside_writer(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__") in _LOCKING_MODULES:
            return True
        frame = frame.f_back
    return False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global deferred
    if _inside_writer(frame):
        deferred = signum  # the writer calls deliver() once its locks are released
        # ...unless it was already past its last check: then the signal comes again shortly
        resend = threading.Timer(RESEND_AFTER_S, _resend, (signum,))
        resend.daemon = True
        resend.start()
        return
    _terminate(signum, frame)


def _resend(signum: int) -> None:
    if deferred is not None:
        os.kill(os.getpid(), signum)


def deliver() -> None:
    """Handle a deferred signal now (main thread, outside any writer lock)."""
    global deferred
    if deferred is None or threading.current_thread() is not threading.main_thread():
        return
    signum, deferred = deferred, None
    _terminate(signum, sys._getframe(1))


def _terminate(signum: int, frame: FrameType | None) -> None:
    global deferred
    deferred = None
    flush_all()
    if callable(_previous):  # the program's handler decides what happens next
        _previous(signum, frame)
        return
    # the default action: die by the signal (exit status 128 + signum, as without us)
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_kill(threading.get_ident(), signum)
    os._exit(128 + signum)  # only if the signal was blocked
