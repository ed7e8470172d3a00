"""Group commit for the server: many concurrent requests, one Delta commit per tick.

Requests hand their validated events to one committer thread and wait. The thread takes every
request that arrived while the previous commit ran and appends them all in one ``Ledger.append``
(one atomic commit), then answers each request with its own part. A request is answered only
after its events are durable. If the combined commit is refused (an expected model stage no
longer holds...), each request is committed on its own, so one request's error is only its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakeledger.store import Ledger, LedgerError
from lakeledger.store.errors import ConcurrencyError, InvalidInput, StorageError
from lakeledger.store.events import Event

log = logging.getLogger("lakeledger.serve")


@dataclass
class Receipt:
    """What one request gets back: its events as committed (model versions assigned) and the
    ids that were already stored."""

    version: int | None
    events: list[Event]
    skipped: list[str]

    def to_json(self) -> dict[str, Any]:
        rows = []
        for e in self.events:
            row: dict[str, Any] = {"event_id": e.event_id, "kind": e.kind, "stream": e.stream}
            if e.kind == "model.version_registered":
                row["model_version"] = e.version  # type: ignore[attr-defined]
            rows.append(row)
        return {
            "version": self.version,
            "appended": len(self.events),
            "events": rows,
            "skipped": self.skipped,
        }


@dataclass
class _Pending:
    events: list[Event]
    check_ids: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Receipt] = field(repr=False)


class GroupCommitter:
    def __init__(self, ledger: Ledger, on_commit: Callable[[int], None] | None = None) -> None:
        self.ledger = ledger
        self.on_commit = on_commit
        self.commits = 0
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lakeledger-commit", daemon=True)
        self._thread.start()

    async def submit(self, events: list[Event], *, check_ids: bool = True) -> Receipt:
        """Commit ``events`` with the next tick. ``check_ids=False`` only when every id was made
        here just now (none came from the client): then no stored event can have it."""
        loop = asyncio.get_running_loop()
        pending = _Pending(events, check_ids, loop, loop.create_future())
        with self._cond:
            if self._stopping:
                raise StorageError("the server is stopping; retry against the restarted server")
            self._queue.append(pending)
            self._cond.notify()
        return await asyncio.shield(pending.future)

    def close(self) -> None:
        """Commit everything queued, then stop (called on shutdown, after requests drained)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            if not batch:
                return
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a request waiting forever
                for p in batch:
                    _resolve(p, exc)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            result = self.ledger.append(
                [e for p in batch for e in p.events], check_ids=any(p.check_ids for p in batch)
            )
        except (InvalidInput, ConcurrencyError) as exc:
            if len(batch) == 1:
                _resolve(batch[0], exc)
            else:  # someone's events were refused: find whose, commit the others
                for p in batch:
                    self._commit([p])
            return
        except LedgerError as exc:  # storage trouble: the same for everyone in the tick
            for p in batch:
                _resolve(p, exc)
            return
        self.commits += 1
        stored = {e.event_id: e for e in result.events}
        for p in batch:
            mine: list[Event] = []
            skipped: list[str] = []
            for e in p.events:
                committed = stored.pop(e.event_id, None)
                if committed is None:
                    skipped.append(e.event_id)
                else:
                    mine.append(committed)
            _resolve(p, Receipt(result.version if mine else None, mine, skipped))
        if result.version is not None and self.on_commit is not None:
            with contextlib.suppress(RuntimeError):  # the event loop closed: nobody to wake
                self.on_commit(result.version)


def _resolve(p: _Pending, outcome: Receipt | BaseException) -> None:
    def settle() -> None:
        if p.future.done():
            return
        if isinstance(outcome, BaseException):
            p.future.set_exception(outcome)
        else:
            p.future.set_result(outcome)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        p.loop.call_soon_threadsafe(settle)
