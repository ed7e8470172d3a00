"""Decoding event rows: the envelope columns plus a typed subset of the JSON payload.

Views never parse whole events: each asks for the few payload fields it needs, for one kind,
and polars decodes them in bulk (``str.json_decode`` into a ``Struct``).
"""

from __future__ import annotations

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
) -> pl.LazyFrame:
    """Rows of ``kind`` with the envelope and the payload ``fields`` as columns.

    ``rename`` maps payload field -> column name (model events carry their own ``version``);
    ``raw`` maps payload field -> column for free-form JSON values (params, observed...), kept
    as JSON text because their shape varies from event to event.
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


def _pairs(objects: pl.Series) -> pl.Series:
    out: list[list[dict[str, str | None]] | None] = []
    for text in objects.to_list():
        obj = msgspec.json.decode(text) if text else {}
        out.append(
            [{"key": k, "value": scalar_text(v)} for k, v in obj.items()]
            if isinstance(obj, dict)
            else []
        )
    return pl.Series(out, dtype=_PAIRS)


def explode_object(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """One row per key of the JSON object in ``column`` (values as ``scalar_text``)."""
    return (
        frame.with_columns(pl.col(column).map_batches(_pairs, return_dtype=_PAIRS).alias(column))
        .explode(column)
        .filter(pl.col(column).is_not_null())
        .with_columns(pl.col(column).struct.field("key"), pl.col(column).struct.field("value"))
        .drop(column)
    )


def _objects(pairs: pl.Series) -> pl.Series:
    return pl.Series(
        [object_text(dict(zip(p["key"], p["value"], strict=True))) for p in pairs.to_list()],
        dtype=pl.String,
    )


def json_objects(frame: pl.LazyFrame, by: str, alias: str, value: str = "value") -> pl.LazyFrame:
    """``(by, key, value)`` rows folded into one JSON object text per ``by``."""
    return (
        frame.group_by(by)
        .agg(pl.col("key"), pl.col(value).alias("value"))
        .select(
            by, pl.struct("key", "value").map_batches(_objects, return_dtype=pl.String).alias(alias)
        )
    )
