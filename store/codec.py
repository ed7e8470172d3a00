"""Events <-> Arrow rows of the Delta event table: the one mapper between rows and events.

Every reader that wants events gets them from ``decode_payload``/``upcast`` (``Ledger.read``,
producers, the CLI); views decode payload columns in bulk with types derived from the same
classes and send old rows through ``upcast_json``. Upcasters live on the event classes.

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
import polars as pl
import pyarrow as pa

from .errors import InvalidInput
from .events import KINDS, AnyEvent, Event, RawEvent, current_schema_version
from .identity import Writer

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


PER_EVENT = ("event_id", "kind", "schema_version", "stream", "occurred_at", "payload")


class Rows:
    """Events already encoded as the log's per-event columns (``PER_EVENT``), built in bulk
    (``store.bulk``) rather than one Python object per event; ``encode`` adds the commit's
    columns to them as to events."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.select(list(PER_EVENT))

    def __len__(self) -> int:
        return self.table.num_rows


def encode(
    events: Sequence[Event] | Rows,
    *,
    version: int,
    recorded_at: datetime,
    writer: Writer,
    batch_id: str,
) -> pa.Table:
    """Build the Arrow table for one commit.

    Columns are built by polars, never by ``pa.array``/``pa.scalar`` over Python objects: those
    import pandas when it is installed (0.5 s CPU and 34-60 MB in every process that appends)."""
    n = len(events)
    if isinstance(events, Rows):
        own: dict[str, Any] = dict(zip(PER_EVENT, events.table.columns, strict=True))
    else:
        own = {
            "event_id": [e.event_id for e in events],
            "kind": [_kind_of(type(e)) for e in events],
            "schema_version": [e.schema_version for e in events],
            "stream": [_stream(e) for e in events],
            "occurred_at": [_micros(e.occurred_at) for e in events],
            "payload": [_encoder.encode(e).decode() for e in events],
        }
    columns: dict[str, Any] = {
        "version": _Same(version),
        "seq": range(n),
        **{c: own[c] for c in PER_EVENT[:5]},
        "recorded_at": _Same(_micros(recorded_at)),
        "writer_user": _Same(writer.user),
        "writer_host": _Same(writer.host),
        "writer_pid": _Same(writer.pid),
        "writer_version": _Same(writer.version),
        "batch_id": _Same(batch_id),
        "payload": own["payload"],
    }
    return pa.Table.from_arrays([_column(columns[f.name], f.type, n) for f in SCHEMA], schema=SCHEMA)


class _Same:
    """A column holding one value in every row (repeated natively: a 300k-row list cost 30 ms)."""

    def __init__(self, value: object) -> None:
        self.value = value


# polars types that build each Arrow type of the schema (timestamps from int64 microseconds)
_POLARS = {pa.int64(): pl.Int64, pa.int32(): pl.Int32, pa.string(): pl.String, TS: pl.Int64}


def _column(values: Any, arrow_type: pa.DataType, n: int) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):  # bulk ``Rows``: already Arrow
        return values if values.type == arrow_type else values.cast(arrow_type)
    dtype = _POLARS[arrow_type]
    if isinstance(values, _Same):
        # not ``pl.repeat``: that runs a query (~0.1-0.5 ms per column on polars' thread pool)
        series = pl.Series(values=[values.value], dtype=dtype).new_from_index(0, n)
    else:
        series = pl.Series(values=values, dtype=dtype)
    return series.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(arrow_type)


@functools.cache
def _kind_of(cls: type[Event]) -> str:
    return cls.__struct_config__.tag  # type: ignore[return-value]


def _stream(e: Event) -> str:
    return e.stream


def decode_payload(payload: str | bytes) -> AnyEvent | RawEvent:
    """Typed event from a stored payload (old schema versions upcast; unknown ones raw)."""
    obj = msgspec.json.decode(payload)
    if not isinstance(obj, dict):
        return _raw({"data": obj})
    return upcast(obj)


def payload_object(payload: str | bytes) -> dict[str, Any]:
    """A stored payload as a JSON object in its current shape (for display and ``--json``)."""
    event = decode_payload(payload)
    if isinstance(event, RawEvent):
        return event.data if isinstance(event.data, dict) else {"data": event.data}
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]


def upcast_json(payload: str) -> str:
    """A stored payload in its kind's current shape (as JSON text; unchanged if it cannot be)."""
    event = decode_payload(payload)
    return payload if isinstance(event, RawEvent) else _encoder.encode(event).decode()


def upcast(obj: dict[str, Any]) -> AnyEvent | RawEvent:
    """Decode one stored event object into its current typed form (or ``RawEvent``).

    Chains the class's ``upcast_v<n>_v<n+1>`` static methods from the stored version up to the
    current one. Kinds this lakeledger does not know, versions newer than it knows and objects
    it cannot type come back as ``RawEvent`` rather than an error.
    """
    kind = obj.get("kind", "")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    version = obj.get("schema_version", 1)
    if cls is None or not isinstance(version, int) or version > current_schema_version(kind):
        return _raw(obj)
    current = current_schema_version(kind)
    while version < current:
        step = getattr(cls, f"upcast_v{version}_v{version + 1}", None)
        if step is None:
            return _raw(obj)
        obj = step(obj)
        version += 1
        obj["schema_version"] = version
    try:
        return msgspec.convert(obj, cls)  # type: ignore[return-value]
    except msgspec.ValidationError:
        return _raw(obj)


def _raw(obj: dict[str, Any]) -> RawEvent:
    occurred = obj.get("occurred_at")
    try:
        occurred_at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
    except ValueError:
        occurred_at = None
    version = obj.get("schema_version", 1)
    return RawEvent(
        event_id=str(obj.get("event_id", "")),
        kind=str(obj.get("kind", "")),
        schema_version=version if isinstance(version, int) else 0,
        occurred_at=occurred_at,
        data=obj,
    )
