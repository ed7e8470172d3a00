"""Receiving OpenLineage: bytes (HTTP body, file transport output, stdin) -> lakeledger events."""

from __future__ import annotations

from lakeledger.store import Committed, Ledger
from lakeledger.store.events import Event

from .envelope import decode_many, validate
from .mapping import to_events


def parse(body: bytes, source: str) -> list[Event]:
    """Every event in ``body``, validated; the first invalid one raises ``InvalidInput`` naming
    where it is, so a batch is stored whole or not at all."""
    events: list[Event] = []
    for where, raw in decode_many(body, source):
        events += to_events(raw, validate(raw, where))
    return events


def import_into(ledger: Ledger, body: bytes, source: str) -> Committed:
    """Parse and append atomically; events already stored (same content) are skipped."""
    return ledger.append(parse(body, source))
