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
    decode = msgspec.json.decode
    encode = msgspec.json.encode
    for text in objects.to_list():
        obj = decode(text) if text else None
        if isinstance(obj, dict):
            keys.extend(obj)
            if as_json:  # ``json_text`` inlined: half the time of this loop was the calls
                values.extend([encode(v).decode() for v in obj.values()])
            else:
                values.extend([scalar_text(v) for v in obj.values()])
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


def json_objects(
    frame: pl.LazyFrame, by: str, alias: str, value: str = "value", *, as_json: bool = False
) -> pl.LazyFrame:
    """``(by, key, value)`` rows folded into one JSON object text per ``by``, keys sorted: the
    text ``object_text`` makes of the pairs (``as_json``: the values are JSON texts, kept with
    their types). Laid out by polars expressions, no Python object per pair: presenting the
    runs of a search (and the view) spent most of its time folding objects in Python (2.3k runs:
    ~60 ms -> a few ms)."""
    dtype = frame.collect_schema()[value]
    text = _canonical(pl.col(value)) if as_json else _json_text(pl.col(value), dtype)
    return (
        frame.select(by, "key", pl.concat_str(_json_string(pl.col("key")), pl.lit(":"), text).alias("_pair"))
        .sort("key")  # a group keeps its rows' order: keys sorted (a per-group sort was 5x slower)
        .group_by(by)
        .agg("_pair")
        .select(by, pl.concat_str(pl.lit("{"), pl.col("_pair").list.join(","), pl.lit("}")).alias(alias))
    )


def _json_string(expr: pl.Expr) -> pl.Expr:
    """Text as a JSON string, escaped as msgspec escapes it (polars' JSON writer, tested equal)."""
    return pl.struct(expr.alias("k")).struct.json_encode().str.slice(5).str.head(-1)


def _json_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A column's values as msgspec encodes them (null as ``null``); floats in the shortest form
    that reads back, as msgspec writes them (polars writes the same digits, with ``e+`` for
    ``e`` and no JSON for NaN/inf: tested equal over random bit patterns)."""
    if dtype.is_float():
        number = expr.cast(pl.Float64)
        shown = number.cast(pl.String).str.replace("e+", "e", literal=True)
        return pl.when(number.is_finite()).then(shown).otherwise(pl.lit("null"))
    if dtype.is_integer():
        return expr.cast(pl.String).fill_null("null")
    if dtype == pl.Boolean:
        return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false")).otherwise(pl.lit("null"))
    if dtype == pl.String or dtype == pl.Categorical:
        return _json_string(expr.cast(pl.String)).fill_null("null")
    if isinstance(dtype, pl.Struct):
        parts: list[pl.Expr] = []
        for at, f in enumerate(dtype.fields):
            head = ("{" if at == 0 else ",") + msgspec.json.encode(f.name).decode() + ":"
            parts += [pl.lit(head), _json_text(expr.struct.field(f.name), f.dtype)]
        whole = pl.concat_str([*parts, pl.lit("}")]) if parts else pl.lit("{}")
        return pl.when(expr.is_null()).then(pl.lit("null")).otherwise(whole)
    return expr.map_batches(
        lambda s: pl.Series([json_text(v) for v in s.to_list()], dtype=pl.String),
        return_dtype=pl.String,
    )


# JSON texts msgspec writes back unchanged (decoded then encoded): literals, plain integers,
# strings without escapes; floats are checked by formatting them again
_SAME = r'^(?:true|false|null|0|-?[1-9][0-9]{0,17}|"[^"\\\x00-\x1f]*")$'
_FLOAT = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"


def _canonical(expr: pl.Expr) -> pl.Expr:
    """JSON texts as ``json_text(json_value(text))`` gives them: unchanged when they are
    already what msgspec writes (nearly always: views store its output), else re-encoded in
    Python (text from older states that is not JSON becomes a JSON string)."""

    def fix(texts: pl.Series) -> pl.Series:
        text = pl.col("t")
        same = (
            pl.DataFrame({"t": texts})
            .select(
                text.str.contains(_SAME)
                | (
                    text.str.contains(_FLOAT)
                    & (_json_text(text.cast(pl.Float64, strict=False), pl.Float64()) == text)
                )
            )
            .to_series()
            .fill_null(True)  # null: written as null
        )
        if not same.all():
            at = (~same).arg_true()
            fixed = [json_text(json_value(t)) for t in texts.gather(at).to_list()]
            texts = texts.scatter(at, pl.Series(fixed, dtype=pl.String))
        return texts.fill_null("null")

    return expr.map_batches(fix, return_dtype=pl.String)
