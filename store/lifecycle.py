"""The process around buffered events: every open writer is flushed at interpreter exit."""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .buffer import BufferedWriter

log = logging.getLogger("lakeledger.store")

_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()


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
