"""The process around the ledger: interpreter exit and fork.

- Exit: every open writer is flushed by an ``atexit`` hook.
- Fork: deltalake's tokio runtime does not survive ``fork``. A child forked from a process
  that had opened a ledger gets a clear error on first use instead of a panic inside tokio;
  writers in the child start empty (the parent commits its own buffer).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import TYPE_CHECKING

from .errors import LedgerError

if TYPE_CHECKING:
    from .buffer import BufferedWriter

log = logging.getLogger("lakeledger.store")

_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()
_runtime_pid: int | None = None  # the process that started deltalake's runtime
inherited_runtime = False  # True in a forked child of that process: deltalake would panic


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
    global inherited_runtime
    inherited_runtime = _runtime_pid is not None
    for writer in list(_writers):
        writer._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- writers and exit ----------------------------------------------------------------------


def track(writer: BufferedWriter) -> None:
    _writers.add(writer)


def untrack(writer: BufferedWriter) -> None:
    _writers.discard(writer)


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_writers):
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - reported; exit must go on
            log.error(
                "lakeledger: %d events could not be flushed at exit: %s", writer.pending(), exc
            )
