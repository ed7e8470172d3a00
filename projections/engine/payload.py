"""Decoding event rows: the envelope columns plus a typed subset of the JSON payload.

Views never parse whole events: each asks for the few payload fields it needs, for one kind,
and polars decodes them in bulk (``str.json_decode`` into a ``Struct``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec
import polars as pl

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
COLUMNS = (*ENVELOPE, "kind", "stream", "payload")


def rows(
    events: pl.LazyFrame,
    kind: str | tuple[str, ...],
    fields: Mapping[str, pl.DataType],
    *,
    rename: Mapping[str, str] | None = None,
    raw: Mapping[str, str] | None = None,
    scalar_json: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """Rows of ``kind`` with the envelope and the payload ``fields`` as columns.

    ``rename`` maps payload field -> column name (model events carry their own ``version``);
    ``raw`` maps payload field -> column for free-form JSON values (params, observed...), kept
    as JSON text because their shape varies from event to event; ``scalar_json`` maps a scalar
    payload field -> column of its JSON text, type kept (``"0.05"`` vs ``0.05``).
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    rename = dict(rename or {})
    frame = events.filter(pl.col("kind").is_in(list(kinds)))
    decoded = pl.col("payload").str.json_decode(pl.Struct(dict(fields))) if fields else None
    cols: list[pl.Expr] = [pl.col(c) for c in (*ENVELOPE, "kind", "stream")] + [pos()]
    if decoded is not None:
        frame = frame.with_columns(decoded.alias("_p"))
        cols += [pl.col("_p").struct.field(f).alias(rename.get(f, f)) for f in fields]
    for field, column in (raw or {}).items():
        cols.append(pl.col("payload").str.json_path_match(f"$.{field}").alias(column))
    for field, column in (scalar_json or {}).items():
        cols.append(pl.col("payload").str.extract(scalar_json_pattern(field), 1).alias(column))
    return frame.select(cols)


# One sortable number for a position in the log: commits hold < 2**24 events each.
POS_SHIFT = 2**24


def pos() -> pl.Expr:
    """The log position (version, seq) of a row as one Int64, for "happened after" tests."""
    return (pl.col("version").cast(pl.Int64) * POS_SHIFT + pl.col("seq").cast(pl.Int64)).alias(
        "pos"
    )


def scalar_text(value: object) -> str | None:
    """How a JSON scalar is shown: strings as-is, everything else as JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def object_text(pairs: Mapping[str, object]) -> str:
    return msgspec.json.encode(dict(sorted(pairs.items()))).decode()


_PAIRS = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))


def _pairs(objects: pl.Series, as_json: bool = False) -> pl.Series:
    out: list[list[dict[str, str | None]] | None] = []
    text_of = json_text if as_json else scalar_text
    for text in objects.to_list():
        obj = msgspec.json.decode(text) if text else {}
        out.append(
            [{"key": k, "value": text_of(v)} for k, v in obj.items()]
            if isinstance(obj, dict)
            else []
        )
    return pl.Series(out, dtype=_PAIRS)


def json_text(value: object) -> str:
    """A value as JSON text: keeps its type (0.05 stays a number, "0.05" a string)."""
    return msgspec.json.encode(value).decode()


def json_value(text: str | None) -> object:
    """The value of ``json_text`` (text that is not JSON, from older states, stays text)."""
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def scalar_json_pattern(field: str) -> str:
    """A regex for the JSON text of a scalar ``field`` of a flat payload (a string keeps its
    quotes): the first ``"field":`` after ``{`` or ``,`` outside a string (quotes inside strings
    are escaped, so they never match). Only for kinds whose payload nests no objects."""
    return '[{,]"' + re.escape(field) + r'":("(?:[^"\\]|\\.)*"|[^,}]*)'


def explode_object(frame: pl.LazyFrame, column: str, *, as_json: bool = False) -> pl.LazyFrame:
    """One row per key of the JSON object in ``column`` (values as ``scalar_text``, or as
    ``json_text`` with ``as_json``)."""

    def pairs(objects: pl.Series) -> pl.Series:
        return _pairs(objects, as_json)

    return (
        frame.with_columns(pl.col(column).map_batches(pairs, return_dtype=_PAIRS).alias(column))
        .explode(column)
        .filter(pl.col(column).is_not_null())
        .with_columns(pl.col(column).struct.field("key"), pl.col(column).struct.field("value"))
        .drop(column)
    )


def _objects(pairs: pl.Series, as_json: bool = False) -> pl.Series:
    out = []
    for p in pairs.to_list():
        values = [json_value(v) for v in p["value"]] if as_json else p["value"]
        out.append(object_text(dict(zip(p["key"], values, strict=True))))
    return pl.Series(out, dtype=pl.String)


def json_objects(
    frame: pl.LazyFrame, by: str, alias: str, value: str = "value", *, as_json: bool = False
) -> pl.LazyFrame:
    """``(by, key, value)`` rows folded into one JSON object text per ``by`` (``as_json``: the
    values are JSON texts, kept with their types)."""

    def objects(pairs: pl.Series) -> pl.Series:
        return _objects(pairs, as_json)

    return (
        frame.group_by(by)
        .agg(pl.col("key"), pl.col(value).alias("value"))
        .select(
            by, pl.struct("key", "value").map_batches(objects, return_dtype=pl.String).alias(alias)
        )
    )
