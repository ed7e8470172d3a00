"""Log maintenance for the server, off the commit tick.

A ``Ledger`` maintains its own log inside ``append`` (a checkpoint every few versions, compaction
and vacuum on a cadence): right for a script, wrong for a server, where every request waiting
for the next commit would wait for a compaction too. The server's writer is opened with
``auto_maintain=False`` and this thread does the same work after the commits are answered,
through its own handle on the log, as another writer process would. Compaction and checkpoints
already cope with concurrent appenders (they commit under the log's optimistic order).

Versions that arrive while a task runs are coalesced: one checkpoint at the newest due version,
one compaction however many cadence points were passed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from lakeledger.store import Ledger, LogSettings
from lakeledger.store import maintenance as store_maintenance
from lakeledger.store.log import EventLog

log = logging.getLogger("lakeledger.serve")

Task = Callable[[EventLog, int, int], None]  # (log, versions maintained up to, newest version)

MANUAL = dataclasses.replace(LogSettings(), auto_maintain=False)


def passed(lo: int, hi: int, every: int, offset: int = 0) -> int | None:
    """The newest version v in (lo, hi] with ``v % every == offset``, or None."""
    if every <= 0 or hi <= lo:
        return None
    v = hi - (hi - offset) % every
    return v if v > lo else None


def maintain(event_log: EventLog, done: int, newest: int) -> None:
    """What ``maintenance.after_commit`` would have done for each version in (done, newest]."""
    s = event_log.settings
    at = passed(done, newest, s.checkpoint_interval)
    if at is not None:
        store_maintenance.checkpoint(event_log, at)
        store_maintenance.cleanup_log(event_log, at - s.keep_log_versions, s.checkpoint_interval)
    if passed(done, newest, s.compact_every, s.compact_every // 2) is not None:
        store_maintenance.compact(event_log)
    if passed(done, newest, s.vacuum_every, s.vacuum_every // 2 + 1) is not None:
        store_maintenance.vacuum(event_log)


class Maintainer:
    """``committed(version)`` is cheap (the committer calls it after answering); the work runs
    here. ``close()`` lets a running task finish and skips what is still pending: maintenance
    is never owed, the next writer does it."""

    def __init__(self, event_log: EventLog, task: Task = maintain) -> None:
        self.event_log, self.task = event_log, task
        self.runs = 0
        self._done = self._newest = -1
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lakeledger-maintain", daemon=True)
        self._thread.start()

    @classmethod
    def for_root(cls, root: str, storage_options: dict[str, str], start: int) -> Maintainer:
        """Its own handle on the log (never shared with the committer's), with the default
        cadences; ``start`` is the version already maintained (the log's version at startup)."""
        own = Ledger.open(root, storage_options, create=False, settings=LogSettings())
        maintainer = cls(own.log)
        maintainer._done = maintainer._newest = start
        return maintainer

    def committed(self, version: int) -> None:
        with self._cond:
            if version > self._newest:
                self._newest = version
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._newest <= self._done and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                done, newest = self._done, self._newest
            try:
                self.task(self.event_log, done, newest)
            except Exception:  # maintenance never fails the server
                log.exception("log maintenance failed (the next commits try again)")
            self.runs += 1
            with self._cond:
                self._done = newest
