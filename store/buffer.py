"""Group commit: buffer events in the process, commit them in batches.

A Delta commit costs milliseconds; a training loop logs a metric in microseconds. Events
added here are durable once ``flush`` returns (it returns only after the commit). Flushes
happen when ``max_events`` are waiting (in the caller, which gives natural back-pressure),
when the oldest waiting event is ``max_delay_s`` old (a daemon thread), on ``close``, at
interpreter exit and on SIGTERM (``lifecycle.py``).

One flush at a time: a flush takes the whole buffer and commits it while holding the flush
lock, so batches land in the order they were taken and a ``flush`` returns only after every
event added before it is committed (by itself or by the flush it waited for). The commit
function must not call back into this writer: ``Ledger`` hands it a raw commit, and a commit
that re-enters raises instead of deadlocking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import lifecycle
from .events import Event

log = logging.getLogger("lakeledger.store")


class BufferedWriter:
    def __init__(
        self,
        commit: Callable[[Sequence[Event]], Any],
        *,
        max_events: int = 50_000,
        max_delay_s: float = 2.0,
    ) -> None:
        self._commit = commit
        self.max_events = max_events
        self.max_delay_s = max_delay_s
        self.closed = False
        self._reset()
        lifecycle.track(self)

    def _reset(self) -> None:
        """Fresh state: at creation, and in a forked child (the buffer is the parent's to
        commit, and a lock another parent thread held at the fork would never be released)."""
        self._buf: list[Event] = []
        self._oldest = 0.0
        self._lock = threading.Lock()  # guards _buf and _oldest, held for microseconds
        self._flush_lock = threading.Lock()  # one flush at a time, batches in order
        self._flusher: int | None = None  # thread holding _flush_lock (re-entrance guard)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, event: Event) -> None:
        with self._lock:
            if not self._buf:
                self._oldest = time.monotonic()
                if self._thread is None and self.max_delay_s > 0:
                    self._start_timer()
            self._buf.append(event)
            full = len(self._buf) >= self.max_events
        if full:
            self.flush()
        if lifecycle.deferred is not None:  # a SIGTERM arrived while this thread was in here
            lifecycle.deliver()

    def extend(self, events: Sequence[Event]) -> None:
        for e in events:
            self.add(e)

    def pending(self) -> int:
        return len(self._buf)

    def flush(self) -> Any:
        """Commit everything added so far; returns after the commit (or raises, keeping it)."""
        if self._flusher == threading.get_ident():
            raise RuntimeError(
                "BufferedWriter.flush re-entered from its own commit: the commit function must "
                "commit directly, not through this writer"
            )
        try:
            with self._flush_lock:
                self._flusher = threading.get_ident()
                try:
                    return self._commit_buffer()
                finally:
                    self._flusher = None
        finally:
            if lifecycle.deferred is not None:  # a SIGTERM arrived while this thread flushed
                lifecycle.deliver()

    def _commit_buffer(self) -> Any:
        with self._lock:
            batch, self._buf = self._buf, []
        if not batch:
            return None
        try:
            return self._commit(batch)
        except BaseException:
            with self._lock:  # keep them, in order, for the next flush
                self._buf[:0] = batch
                self._oldest = time.monotonic()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self.flush()
        self.closed = True
        lifecycle.untrack(self)

    def _start_timer(self) -> None:
        self._thread = threading.Thread(
            target=self._run_timer, name="lakeledger-flush", daemon=True
        )
        self._thread.start()

    def _run_timer(self) -> None:
        tick = max(0.01, self.max_delay_s / 4)
        while not self._stop.wait(tick):
            if self._buf and time.monotonic() - self._oldest >= self.max_delay_s:
                try:
                    self.flush()
                except Exception as exc:  # noqa: BLE001 - kept in the buffer, retried next tick
                    log.error("background flush failed (events kept, will retry): %s", exc)
