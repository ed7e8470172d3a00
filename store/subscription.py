"""Subscriptions: iterate over events as they commit, from a durable per-consumer position.

A named consumer's position is itself an event (``consumer.position`` on ``consumer/<name>``), so
it survives restarts, shows up in ``lakeledger audit consumer/<name>``, and needs no other storage.
Delivery is at least once: the position is committed only after the events before it were handled
(when the consumer asks for the next batch, or on ``save``/``close``), so a consumer killed while
handling sees that batch again on restart, never skips it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from .codec import decode_payload
from .errors import InvalidInput
from .events import AnyEvent, ConsumerPosition, RawEvent

if TYPE_CHECKING:
    from .ledger import Ledger

POSITION_KIND = "consumer.position"
_LAST_SEQ = 2**31 - 1  # past every seq of a version


@dataclass(frozen=True, order=True)
class Position:
    """Everything at or before (version, seq) has been handled; (0, -1) is the beginning."""

    version: int = 0
    seq: int = -1


def stored_position(ledger: Ledger, consumer: str) -> Position | None:
    """The last position ``consumer`` committed, or None for a new consumer."""
    rows = (
        ledger.events(kind=POSITION_KIND, stream=f"consumer/{consumer}")
        .select("payload")
        .collect()["payload"]
        .to_list()
    )
    for payload in reversed(rows):
        event = decode_payload(payload)
        if isinstance(event, ConsumerPosition):
            return Position(event.version, event.seq)
    return None


class Subscription(Iterator[AnyEvent | RawEvent]):
    """Yields events matching ``kind`` in log order, waiting for new commits when caught up.

    ``position`` is that of the last event yielded; ``save()`` commits it for the consumer.
    Iteration ends when ``stop`` is set (or at once when caught up, with ``follow=False``).
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        kind: str | list[str] | None = None,
        consumer: str | None = None,
        since: int | None = None,
        poll_s: float = 0.5,
        batch: int = 1000,
        follow: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        if consumer is not None and (not consumer or "/" in consumer):
            raise InvalidInput(f"consumer name {consumer!r} must be non-empty and have no '/'")
        if since is not None and since < 0:
            raise InvalidInput(f"since {since} is negative; versions start at 1")
        self.ledger = ledger
        self.kinds = [kind] if isinstance(kind, str) else list(kind or [])
        self.consumer = consumer
        self.poll_s = poll_s
        self.batch = batch
        self.follow = follow
        self.stop = stop or threading.Event()
        stored = stored_position(ledger, consumer) if consumer else None
        # ``since``: events committed after that version (as ``ledger.events(since=...)``)
        self.position = stored or (Position(since, _LAST_SEQ) if since is not None else Position())
        self._saved = self.position
        self._pending: deque[tuple[Position, AnyEvent | RawEvent]] = deque()
        self._seen_version = -1
        self._before = self.position  # position before the event being handled

    def __next__(self) -> AnyEvent | RawEvent:
        while not self._pending:
            self.save()  # everything yielded so far was handled: the consumer asked for more
            if self._fetch():
                break
            if not self.follow or self.stop.wait(self.poll_s):
                raise StopIteration
        self._before = self.position
        self.position, event = self._pending.popleft()
        return event

    def _fetch(self) -> bool:
        version = self.ledger.version
        if version == self._seen_version:
            return False
        self._seen_version = version
        pos = self.position
        frame = self.ledger.events(kind=self.kinds or None, since=max(pos.version - 1, 0) or None).filter(
            (pl.col("version") > pos.version) | (pl.col("seq") > pos.seq)
        )
        if POSITION_KIND not in self.kinds:  # positions are bookkeeping, not news
            frame = frame.filter(pl.col("kind") != POSITION_KIND)
        frame = frame.head(self.batch).select("version", "seq", "payload").collect()
        if frame.height == self.batch:
            self._seen_version = -1  # more are waiting: fetch again without a new commit
        for v, s, payload in frame.iter_rows():
            self._pending.append((Position(v, s), decode_payload(payload)))
        return bool(self._pending)

    def save(self) -> None:
        """Commit the consumer's position (no-op without a consumer or when unchanged)."""
        if self.consumer is not None and self.position != self._saved:
            self._write(self.position)

    def record_failure(self, error: str, attempts: int) -> None:
        """Record that handling the current event failed (it stays unhandled: the position
        written is the one before it, so a restart delivers it again)."""
        if self.consumer is not None:
            self._write(self._before, error=error[:2000], attempts=attempts)

    def _write(self, pos: Position, error: str | None = None, attempts: int = 0) -> None:
        event = ConsumerPosition(
            consumer=self.consumer or "",
            version=pos.version,
            seq=pos.seq,
            error=error,
            attempts=attempts,
        )
        self.ledger.append([event], check_ids=False)
        self._saved = pos

    def close(self, *, handled: bool = True) -> None:
        """Stop and commit the position; ``handled=False``: the last event yielded was not
        handled (interrupted), so the position stays before it."""
        self.stop.set()
        if not handled:
            self.position = self._before
        self.save()
