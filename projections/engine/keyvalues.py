"""Free-form JSON objects (a run's params, tags, metric stats) as ``(key, value)`` rows and back.

Views explode an object column into one row per key to reduce it (the newest value of a param
wins per key), then fold the rows into one JSON object text per entity. Both ways are built
from flat Arrow columns: one decode per row and no Python object per pair (issue 15: the nested
``pl.Series`` constructor was most of the runs reduction).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import polars as pl
import pyarrow as pa


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
    """Each JSON object text as a list of (key, value) structs. Built as flat Arrow columns
    plus offsets: one decode per row and no Python object per pair (issue 15: the nested
    ``pl.Series`` constructor was most of the runs reduction)."""
    keys: list[str] = []
    values: list[str | None] = []
    offsets = [0]
    text_of = json_text if as_json else scalar_text
    decode = msgspec.json.decode
    encode = msgspec.json.encode
    for text in objects.to_list():
        obj = decode(text) if text else None
        if isinstance(obj, dict):
            keys.extend(obj)
            if as_json:  # ``json_text`` inlined: half the time of this loop was the calls
                values.extend([encode(v).decode() for v in obj.values()])
            else:
                values.extend([text_of(v) for v in obj.values()])
        offsets.append(len(keys))
    # Arrow arrays made by polars: ``pa.array`` of a Python list imports pandas (0.5-0.8 s)
    pairs = pa.StructArray.from_arrays(
        [_arrow(keys, pl.String), _arrow(values, pl.String)], names=["key", "value"]
    )
    series = pl.from_arrow(pa.LargeListArray.from_arrays(_arrow(offsets, pl.Int64), pairs))
    assert isinstance(series, pl.Series)
    return series.cast(_PAIRS)


def _arrow(items: list, dtype: type[pl.DataType]) -> pa.Array:  # type: ignore[type-arg]
    return pl.Series(items, dtype=dtype).to_arrow(compat_level=pl.CompatLevel.oldest())


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


def explode_object(frame: pl.LazyFrame, column: str, *, as_json: bool = False) -> pl.LazyFrame:
    """One row per key of the JSON object in ``column`` (values as ``scalar_text``, or as
    ``json_text`` with ``as_json``). Empty objects give no rows, so they skip the decoder (most
    runs start with no tags: issue 15, the tags part of a 245k-event chunk 31 -> 13 ms CPU)."""

    def pairs(objects: pl.Series) -> pl.Series:
        return _pairs(objects, as_json)

    return (
        frame.filter(pl.col(column).is_not_null() & (pl.col(column) != "{}"))
        .with_columns(pl.col(column).map_batches(pairs, return_dtype=_PAIRS).alias(column))
        .explode(column)
        .filter(pl.col(column).is_not_null())
        .with_columns(pl.col(column).struct.field("key"), pl.col(column).struct.field("value"))
        .drop(column)
    )


def _objects(pairs: pl.Series, as_json: bool = False) -> pl.Series:
    """Each (keys, values) list pair as one JSON object text, keys sorted. The lists are read
    flat (one ``to_list`` per column, not a dict per row): issue 15, runs presented 1.4x faster."""
    keys = pairs.struct.field("key")
    lengths = keys.list.len().to_list()
    if not all(lengths):  # an empty list explodes to a null row: keep the rows aligned
        lengths = [0 if n is None else n for n in lengths]
        flat_keys = keys.list.explode(keep_nulls=False, empty_as_null=False).to_list()
        flat_values = pairs.struct.field("value").list.explode(
            keep_nulls=False, empty_as_null=False
        ).to_list()
    else:
        flat_keys = keys.explode().to_list()
        flat_values = pairs.struct.field("value").explode().to_list()
    if as_json:
        flat_values = [json_value(v) for v in flat_values]
    out = []
    at = 0
    for n in lengths:
        out.append(object_text(dict(zip(flat_keys[at : at + n], flat_values[at : at + n], strict=True))))
        at += n
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
