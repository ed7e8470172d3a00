"""Decoding event rows: the envelope columns plus a typed subset of the JSON payload.

Views never parse whole events: each names its event class and the few fields it needs, and
they are decoded in bulk into a ``Struct`` (``decode_struct``: msgspec for flat fields, else
polars' ``str.json_decode``, the same values either way). The polars types come from
the msgspec event classes themselves (``eventtypes.py``), so a view can never disagree with the
vocabulary; free-form fields (``Any``, scalar unions, mappings) come back as JSON text. Rows
written under an older schema version go through the store's one mapper (``codec.upcast_json``)
first: the same upcasters as ``Ledger.read``, applied only to the old rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import msgspec
import polars as pl
from lakeledger.projections.engine import sharing
from lakeledger.projections.engine.eventtypes import dtypes, fields_of, tag_of
from lakeledger.projections.engine.freeform import SLICE, free_json
from lakeledger.store.codec import upcast_json
from lakeledger.store.events import KINDS, Event, current_schema_version

ENVELOPE = (
    "version",
    "seq",
    "event_id",
    "recorded_at",
    "occurred_at",
    "writer_user",
    "writer_host",
    "writer_pid",
)

# Envelope columns every view may read; ``prepare`` keeps only these (plus kind, stream, payload).
COLUMNS = (*ENVELOPE, "kind", "schema_version", "stream", "payload")


def upcast_rows(frame: pl.LazyFrame, kinds: Sequence[str]) -> pl.LazyFrame:
    """Rewrite the payload of rows older than their kind's schema version (the mapper's upcast).

    Only kinds that ever changed pay for it, and only their old rows go through Python.
    """
    current = {k: current_schema_version(k) for k in kinds if k in KINDS}
    if all(v == 1 for v in current.values()):
        return frame
    return frame.with_columns(
        pl.struct("kind", "schema_version", "payload")
        .map_batches(functools.partial(_upcast_batch, current), return_dtype=pl.String)
        .alias("payload")
    )


def _upcast_batch(current: Mapping[str, int], rows: pl.Series) -> pl.Series:
    frame = rows.struct.unnest()
    latest = frame["kind"].replace_strict(current, default=0, return_dtype=pl.Int64)
    old = (frame["schema_version"].cast(pl.Int64) < latest).arg_true()
    payload = frame["payload"]
    if old.len() == 0:
        return payload
    return payload.scatter(old, [upcast_json(p) for p in payload.gather(old).to_list()])


def rows(
    events: pl.LazyFrame,
    cls: type[Event] | tuple[type[Event], ...],
    fields: Sequence[str],
    *,
    rename: Mapping[str, str] | None = None,
    scalar_json: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """Rows of the kind(s) of ``cls`` with the envelope and the payload ``fields`` as columns.

    Types come from the first class (several classes must agree on the fields asked for).
    ``rename`` maps payload field -> column name (model events carry their own ``version``).
    Free-form fields are JSON text; a field an old row lacks gets the class default.
    ``scalar_json`` maps a scalar field -> column of its exact JSON text, type kept (a string
    keeps its quotes: ``"0.05"`` vs ``0.05``), for flat payloads (``scalar_json_pattern``).
    Inside ``sharing.shared`` the kind's payloads are decoded once for every part asking.
    """
    classes = cls if isinstance(cls, tuple) else (cls,)
    sharer = sharing.current(events)
    if sharer is not None:
        plan = sharer.decoded(classes, fields, tuple(scalar_json or {}), _decode)
        if plan is not None:
            return select(plan, fields, rename, scalar_json)
    return select(_decode(events, classes, fields, tuple(scalar_json or {})), fields, rename, scalar_json)


def select(
    decoded: pl.LazyFrame,
    fields: Sequence[str],
    rename: Mapping[str, str] | None,
    scalar_json: Mapping[str, str] | None,
) -> pl.LazyFrame:
    """``rows``' columns from a frame ``_decode`` made (with these fields among its own)."""
    rename = rename or {}
    cols: list[pl.Expr] = [pl.col(c) for c in (*ENVELOPE, "kind", "stream", "pos")]
    cols += [pl.col(_FIELD + f).alias(rename.get(f, f)) for f in fields]
    cols += [pl.col(_TEXT + f).alias(column) for f, column in (scalar_json or {}).items()]
    return decoded.select(cols)


_FIELD, _TEXT = "_f.", "_j."  # decoded payload columns (a field may share an envelope name)


def _decode(
    events: pl.LazyFrame, classes: tuple[type[Event], ...], fields: Sequence[str], texts: Sequence[str]
) -> pl.LazyFrame:
    """The rows of ``classes``' kinds: envelope, ``pos``, each payload field as ``_f.<field>``
    and the JSON text of each of ``texts`` as ``_j.<field>``."""
    kinds = [tag_of(c) for c in classes]
    known = fields_of(classes[0])
    types = dtypes(classes[0], fields)
    typed = {f: t for f, t in types.items() if known[f][0] is not None}
    free = tuple(f for f in fields if f not in typed)
    frame = upcast_rows(events.filter(pl.col("kind").is_in(kinds)), kinds)
    cols: list[pl.Expr] = [pl.col(c) for c in (*ENVELOPE, "kind", "stream")] + [pos()]
    if typed:
        # msgspec for flat fields (``decode_struct``). Metric payloads were parsed by a native
        # regex of their last members; on the in-memory engine its capture columns held
        # ~55 MB more at the 5M rebuild's peak (1,188 vs 1,106-1,133 MB) for no CPU gain
        # (20.2 vs 20.0-20.6 s; issue 15), so every kind takes the decoder.
        frame = frame.with_columns(decode_struct(pl.col("payload"), typed).alias("_p"))
    if free:
        frame = frame.with_columns(free_json(pl.col("payload"), free).alias("_t"))
    for f in fields:
        default = known[f][1]
        if f in typed:
            col = pl.col("_p").struct.field(f)
            if default is not None:
                col = col.fill_null(pl.lit(default, typed[f]))
        else:
            col = pl.col("_t").struct.field(f)
        cols.append(col.alias(_FIELD + f))
    for f in texts:
        cols.append(pl.col("payload").str.extract(scalar_json_pattern(f), 1).alias(_TEXT + f))
    return frame.select(cols)


# Python types of the polars types msgspec decodes straight into columns (others: polars).
_SCALARS: dict[type[pl.DataType], type] = {
    pl.String: str,
    pl.Boolean: bool,
    pl.Int64: int,
    pl.Float64: float,
}


def decode_struct(payload: pl.Expr, typed: Mapping[str, pl.DataType]) -> pl.Expr:
    """``payload.str.json_decode(Struct(typed))``, the same values, faster for flat fields.

    When every field is a scalar, msgspec decodes each payload into a struct of just those
    fields (1.7x less CPU than polars' decoder, measured on metric events: issue 15); a batch
    msgspec refuses (a value of another type) goes to polars, so the result never differs.
    """
    fields = tuple(typed.items())
    dtype = pl.Struct(dict(fields))
    if not all(t.base_type() in _SCALARS for _, t in fields):
        return payload.str.json_decode(dtype)
    decode = functools.partial(_decode_batch, fields)
    return payload.map_batches(decode, return_dtype=dtype, is_elementwise=True)


@functools.cache
def _decoder(fields: tuple[tuple[str, pl.DataType], ...]) -> msgspec.json.Decoder[object]:
    spec = [(f, _SCALARS[t.base_type()] | None, None) for f, t in fields]
    return msgspec.json.Decoder(msgspec.defstruct("Payload", spec))


def _decode_batch(fields: tuple[tuple[str, pl.DataType], ...], payload: pl.Series) -> pl.Series:
    """Each payload decoded (null payloads: null rows). Per slice (``SLICE``): the Python strings
    and structs of one slice only are alive at a time (a whole chunk's would be ~0.5 KB per event
    of Python heap, which is not given back)."""
    dtype = pl.Struct(dict(fields))
    nulls = payload.null_count()
    if nulls == payload.len():
        return pl.repeat(None, payload.len(), dtype=dtype, eager=True).alias(payload.name)
    if nulls:
        todo = payload.is_not_null().arg_true()
        decoded = _decode_batch(fields, payload.gather(todo)).struct.unnest()
        columns = [
            pl.repeat(None, payload.len(), dtype=t, eager=True).scatter(todo, decoded[f]).alias(f)
            for f, t in fields
        ]
        return pl.DataFrame(columns).to_struct(payload.name)
    pieces: list[pl.DataFrame] = []
    try:
        decode = _decoder(fields).decode
        for start in range(0, max(payload.len(), 1), SLICE):
            objs = [decode(p) for p in payload.slice(start, SLICE).to_list()]
            pieces.append(
                pl.DataFrame(
                    [pl.Series(f, [getattr(o, f) for o in objs], dtype=t) for f, t in fields],
                    schema=dict(fields),
                )
            )
    except (msgspec.DecodeError, TypeError, ValueError, OverflowError):
        return payload.str.json_decode(dtype)
    return pl.concat(pieces).to_struct(payload.name)


def payload_struct(cls: type[Event], fields: Sequence[str]) -> pl.Expr:
    """The payload's ``fields`` as one struct column typed from the event class, for frames
    that carry only the payload (no envelope), e.g. the lineage graph's edges."""
    return pl.col("payload").str.json_decode(pl.Struct(dtypes(cls, fields)))


def json_string(expr: pl.Expr) -> pl.Expr:
    """The text inside a JSON string literal (``'"a"'`` -> ``'a'``): param values are kept as
    JSON text, and a string value is shown and compared without its quotes."""
    return expr.str.json_decode(pl.String)


# One sortable number for a position in the log: commits hold < 2**24 events each.
POS_SHIFT = 2**24


def pos() -> pl.Expr:
    """The log position (version, seq) of a row as one Int64, for "happened after" tests."""
    return (pl.col("version").cast(pl.Int64) * POS_SHIFT + pl.col("seq").cast(pl.Int64)).alias(
        "pos"
    )


def scalar_json_pattern(field: str) -> str:
    """A regex for the JSON text of a scalar ``field`` of a flat payload (a string keeps its
    quotes): the first ``"field":`` after ``{`` or ``,`` outside a string (quotes inside strings
    are escaped, so they never match). Only for kinds whose payload nests no objects."""
    return '[{,]"' + re.escape(field) + r'":("(?:[^"\\]|\\.)*"|[^,}]*)'
