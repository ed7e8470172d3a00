"""Group commit: buffer events in the process, commit them in batches.

A Delta commit costs milliseconds; a training loop logs a metric in microseconds. Events
added here are durable once ``flush`` returns (it returns only after the commit). Flushes
happen when ``max_events`` are waiting (in the caller, which gives natural back-pressure),
when the oldest waiting event is ``max_delay_s`` old (a daemon thread), on ``close`` and at
interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from .events import Event
from .log import Committed

log = logging.getLogger("lakeledger.store")
_open_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()


class BufferedWriter:
    def __init__(
        self,
        commit: Callable[[Sequence[Event]], Committed],
        *,
        max_events: int = 50_000,
        max_delay_s: float = 2.0,
    ) -> None:
        self._commit = commit
        self.max_events = max_events
        self.max_delay_s = max_delay_s
        self._buf: list[Event] = []
        self._oldest = 0.0
        self._lock = threading.Lock()  # guards _buf
        self._flush_lock = threading.Lock()  # one commit at a time, in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False
        _open_writers.add(self)

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

    def extend(self, events: Sequence[Event]) -> None:
        for e in events:
            self.add(e)

    def pending(self) -> int:
        return len(self._buf)

    def flush(self) -> Committed | None:
        """Commit everything buffered so far; returns after the commit (or raises, keeping it)."""
        with self._flush_lock:
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
        _open_writers.discard(self)

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


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - reported; exit must go on
            log.error(
                "lakeledger: %d events could not be flushed at exit: %s", writer.pending(), exc
            )
