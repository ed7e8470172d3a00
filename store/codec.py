"""Events <-> Arrow rows of the Delta event table.

Each row keeps the envelope in typed columns (for filtering and stats pruning) and the whole
event as canonical JSON in ``payload``, so any reader can rebuild the exact typed event and
unknown kinds survive round trips. ``version`` is the Delta commit version that wrote the row:
the store commits only at ``loaded + 1`` (see ``log.py``), so the stamp is exact, and every read
(since, as-of, history) works from the rows alone, long after the Delta log was cleaned up.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa

from .errors import InvalidInput
from .events import AnyEvent, Event
from .identity import Writer
from .upcast import upcast

TS = pa.timestamp("us", tz="UTC")

SCHEMA = pa.schema(
    [
        pa.field("version", pa.int64(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),  # position within the commit
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("stream", pa.string(), nullable=False),
        pa.field("occurred_at", TS, nullable=False),
        pa.field("recorded_at", TS, nullable=False),
        pa.field("writer_user", pa.string()),
        pa.field("writer_host", pa.string()),
        pa.field("writer_pid", pa.int64()),
        pa.field("writer_version", pa.string()),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
    ]
)

_encoder = msgspec.json.Encoder()


def _micros(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise InvalidInput(
            f"occurred_at {ts.isoformat()} has no timezone: pass a timezone-aware datetime "
            "(e.g. datetime.now(UTC)); lakeledger never guesses the zone of a naive time"
        )
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode(
    events: Sequence[Event], *, version: int, recorded_at: datetime, writer: Writer, batch_id: str
) -> pa.Table:
    """Build the Arrow table for one commit. Constant columns are repeated, not materialised."""
    n = len(events)
    rec = pa.scalar(_micros(recorded_at), TS)
    columns: dict[str, Any] = {
        "version": pa.repeat(pa.scalar(version, pa.int64()), n),
        "seq": pa.array(range(n), pa.int32()),
        "event_id": pa.array([e.event_id for e in events], pa.string()),
        "kind": pa.array([_kind_of(type(e)) for e in events], pa.string()),
        "schema_version": pa.array([e.schema_version for e in events], pa.int32()),
        "stream": pa.array([_stream(e) for e in events], pa.string()),
        "occurred_at": pa.array([_micros(e.occurred_at) for e in events], pa.int64()).cast(TS),
        "recorded_at": pa.repeat(rec, n),
        "writer_user": pa.repeat(pa.scalar(writer.user, pa.string()), n),
        "writer_host": pa.repeat(pa.scalar(writer.host, pa.string()), n),
        "writer_pid": pa.repeat(pa.scalar(writer.pid, pa.int64()), n),
        "writer_version": pa.repeat(pa.scalar(writer.version, pa.string()), n),
        "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), n),
        "payload": pa.array([_encoder.encode(e).decode() for e in events], pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


@functools.cache
def _kind_of(cls: type[Event]) -> str:
    return cls.__struct_config__.tag  # type: ignore[return-value]


def _stream(e: Event) -> str:
    prefix, field = e.stream_of
    return f"{prefix}/{getattr(e, field)}"


def decode_payload(payload: str | bytes) -> AnyEvent:
    """Typed event from a stored payload (old schema versions upcast; unknown ones raw)."""
    return upcast(msgspec.json.decode(payload))  # type: ignore[return-value]
