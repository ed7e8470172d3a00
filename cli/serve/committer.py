"""Group commit for the server: many concurrent requests, one Delta commit per tick.

Requests hand their built events to one committer thread and wait. The thread takes every
request that arrived while the previous commit ran and appends them all in one ``Ledger.append``
(one atomic commit, which admits every event: the one admission they get, off the event loop).
If the combined commit is refused, the refused requests are found (an inadmissible event,
located at its body line; else an expected model stage that no longer holds: each request on
its own), so one request's error is only its own.

Ticks are pipelined: the commit returns once published (``durable=False``), and a second thread
makes it durable (the log directory's fsync, one for every tick published meanwhile) and only
then answers each request with its own part, in one wake-up of the event loop. So the next
tick is prepared, written and published while the previous one's last fsync runs; commits keep
their order (one committing thread) and a request is answered only after its events are durable.
When no request is waiting, the committing thread makes its tick durable and answers it itself
(no hand-over: a lone request pays one thread hop less).
Log maintenance is not done here: ``on_commit`` hands the version to ``maintainer.py``.
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
from lakeledger.store.admission import admit
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
    wheres: list[str] | None = None  # where each event came from ("body:3"), for errors


_Answer = tuple[_Pending, Receipt | BaseException]


class GroupCommitter:
    def __init__(self, ledger: Ledger, on_commit: Callable[[int], None] | None = None) -> None:
        self.ledger = ledger
        self.on_commit = on_commit
        self.commits = 0
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._stopping = False
        # published ticks waiting for their fsync: (answers, newest version); None: stop
        self._published: list[tuple[list[_Answer], int | None] | None] = []
        self._synced = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="lakeledger-commit", daemon=True)
        self._acker = threading.Thread(target=self._answer, name="lakeledger-durable", daemon=True)
        self._thread.start()
        self._acker.start()

    async def submit(
        self, events: list[Event], *, check_ids: bool = True, wheres: list[str] | None = None
    ) -> Receipt:
        """Commit ``events`` with the next tick. ``check_ids=False`` only when every id was made
        here just now (none came from the client): then no stored event can have it.
        ``wheres`` names each event's place in the request, so a refusal can say which one."""
        loop = asyncio.get_running_loop()
        pending = _Pending(events, check_ids, loop, loop.create_future(), wheres)
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
        self._acker.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            if not batch:
                self._hand(None)
                return
            answers: list[_Answer] = []
            version = None
            try:
                version = self._commit(batch, answers)
            except BaseException as exc:  # noqa: BLE001 - never leave a request waiting forever
                answered = {id(p) for p, _ in answers}
                answers += [(p, exc) for p in batch if id(p) not in answered]
            with self._cond:
                idle = not self._queue
            if idle:  # nothing to prepare meanwhile: no hand-over (one thread hop less per request)
                self._settle([(answers, version)])
            else:
                self._hand((answers, version))

    def _hand(self, tick: tuple[list[_Answer], int | None] | None) -> None:
        with self._synced:
            self._published.append(tick)
            self._synced.notify()

    def _answer(self) -> None:
        """Make published ticks durable (one fsync for all of them), then answer them."""
        while True:
            with self._synced:
                while not self._published:
                    self._synced.wait()
                ticks, self._published = self._published, []
            done = [t for t in ticks if t is not None]
            self._settle(done)
            if len(done) < len(ticks):
                return

    def _settle(self, done: list[tuple[list[_Answer], int | None]]) -> None:
        """Make ``done``'s ticks durable (one fsync for every commit published so far), then answer."""
        if any(version is not None for _, version in done):
            try:
                self.ledger.log.sync()
            except BaseException as exc:  # noqa: BLE001 - not durable: nobody is told it is
                error = exc if isinstance(exc, LedgerError) else StorageError(f"fsync failed: {exc}")
                done = [
                    ([(p, out if isinstance(out, BaseException) else error) for p, out in answers], None)
                    for answers, _ in done
                ]
        _resolve([a for answers, _ in done for a in answers])
        newest = max((v for _, v in done if v is not None), default=None)
        if newest is not None and self.on_commit is not None:
            with contextlib.suppress(RuntimeError):  # the event loop closed: nobody to wake
                self.on_commit(newest)

    def _commit(self, batch: list[_Pending], answers: list[_Answer]) -> int | None:
        """Commit ``batch`` (or what of it can be), adding each request's outcome to ``answers``;
        returns the newest version committed."""
        try:
            result = self.ledger.append(
                [e for p in batch for e in p.events], check_ids=any(p.check_ids for p in batch),
                durable=False,  # made durable by ``_answer`` before anyone is answered
            )
        except InvalidInput as exc:
            refused = [(p, err) for p in batch if (err := self._refusal(p, exc if len(batch) == 1 else None))]
            if not refused:  # admissible one by one, refused together: each on its own
                return self._one_by_one(batch, answers)
            answers += refused
            gone = {id(p) for p, _ in refused}
            others = [p for p in batch if id(p) not in gone]
            return self._commit(others, answers) if others else None
        except ConcurrencyError as exc:
            if len(batch) == 1:
                answers.append((batch[0], exc))
                return None
            return self._one_by_one(batch, answers)  # someone's expectation failed: find whose
        except LedgerError as exc:  # storage trouble: the same for everyone in the tick
            answers += [(p, exc) for p in batch]
            return None
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
            answers.append((p, Receipt(result.version if mine else None, mine, skipped)))
        return result.version

    def _one_by_one(self, batch: list[_Pending], answers: list[_Answer]) -> int | None:
        versions = [v for p in batch if (v := self._commit([p], answers)) is not None]
        return max(versions, default=None)

    def _refusal(self, p: _Pending, refused: InvalidInput | None) -> InvalidInput | None:
        """The error of ``p``'s first inadmissible event, located at its place in the request
        (None if all are admissible). ``refused``: the store's own error for ``p`` alone."""
        location = getattr(self.ledger, "location", None)
        for i, event in enumerate(p.events):
            try:
                admit(event, location)  # type: ignore[arg-type]
            except InvalidInput as exc:
                return exc.at(p.wheres[i]) if p.wheres else exc  # type: ignore[return-value]
        return refused


def _resolve(answers: list[_Answer]) -> None:
    """Settle every request of the tick: one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for p, outcome in answers:
        by_loop.setdefault(p.loop, []).append((p, outcome))
    for loop, mine in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, mine)


def _settle(answers: list[_Answer]) -> None:
    for p, outcome in answers:
        if p.future.done():
            continue
        if isinstance(outcome, BaseException):
            p.future.set_exception(outcome)
        else:
            p.future.set_result(outcome)
