"""Text cells -> typed values: the reference polars expressions, and faster routes to the same result.

``cast_text`` is the definition (null where the text does not parse). ``fast_cast`` reaches the
same values for a whole column by cheaper means where it can, and declines (``None``) otherwise;
property tests (tests/test_ingest_casts.py) hold the two equal. Per-call overhead matters as much
as per-value work here: a CSV batch is checked in 64k-row chunks, so every polars call saved per
column is saved ~16 times per million rows.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

TRUE = ["true", "t", "1", "yes", "y"]
FALSE = ["false", "f", "0", "no", "n"]


def cast_text(expr: pl.Expr, kind: str) -> pl.Expr:
    """Text -> typed value, null where the text does not parse."""
    if kind in ("str", "json"):
        return expr
    text = expr.str.strip_chars()
    if kind == "int":
        return text.cast(pl.Int64, strict=False)
    if kind == "float":
        return text.cast(pl.Float64, strict=False)
    if kind == "bool":
        low = text.str.to_lowercase()
        return (
            pl.when(low.is_in(TRUE))
            .then(True)
            .when(low.is_in(FALSE))
            .then(False)
            .otherwise(None)
            .cast(pl.Boolean)
        )
    if kind == "date":
        return text.str.to_date("%Y-%m-%d", strict=False)
    # datetime: RFC 3339 / ISO 8601, 'T' or space, with an offset ('Z' too) or naive = UTC
    # One parse per value: naive text gets "+00:00" appended, "Z" becomes "+00:00".
    norm = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace("Z", "+00:00", literal=True)
    has_zone = norm.str.contains(r"[+-]\d\d:?\d\d$")
    norm = pl.when(has_zone).then(norm).otherwise(pl.concat_str(norm, pl.lit("+00:00")))
    return norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")


# Text arrow's ISO 8601 parser reads exactly as ``cast_text`` does (checked by a property test):
# it is ~30x faster than the chrono format parse, but all-or-nothing, so it is only tried on
# columns whose every value has one of these shapes (all with a zone offset, or all naive = UTC),
# and any failure falls back to ``cast_text``.
_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?"
_FAST: list[tuple[str, pa.DataType]] = [
    (_ISO + r"(Z|[+-]\d{2}:?\d{2})$", pa.timestamp("us", "UTC")),
    (_ISO + "$", pa.timestamp("us")),
]
_FAST_RE = [(re.compile(shape, re.ASCII), target) for shape, target in _FAST]
# every spelling ``cast_text`` reads as a bool (case-insensitive), mapped directly: no lowercasing
_BOOLS = {
    "".join(chars): word in TRUE
    for word in TRUE + FALSE
    for chars in itertools.product(*({c.lower(), c.upper()} for c in word))
}
# kinds whose ``cast_text`` is "strip, then parse": parsing unstripped text gives the same value
# wherever it succeeds, so only the values that fail are stripped (most need no strip)
_AS_IS: dict[str, Any] = {
    "int": lambda s: s.cast(pl.Int64, strict=False),
    "float": lambda s: s.cast(pl.Float64, strict=False),
    "bool": lambda s: _bool(s),
    # (no cache: building the cache of distinct values costs more than the parse saves)
    "date": lambda s: s.str.to_date("%Y-%m-%d", strict=False, cache=False),
}


def fast_cast(column: pl.Series, kind: str) -> pl.Series | None:
    """``cast_text`` of a whole text column by a faster route, or None where there is none."""
    if column.dtype != pl.String:
        return None
    if kind in _AS_IS:  # parse as is; strip and parse again only the values that failed
        parse = _AS_IS[kind]
        typed = parse(column)
        if typed.null_count() == column.null_count():  # nothing failed (the usual case)
            return typed
        failed = typed.is_null() & column.is_not_null()
        return typed.scatter(failed.arg_true(), parse(column.filter(failed).str.strip_chars()))
    if kind == "datetime":
        return _datetime(column)
    return None


def _bool(column: pl.Series) -> pl.Series:
    """Columns written by programs hold "true"/"false" only: two comparisons instead of the map."""
    true = column == "true"
    if true.sum() + (column == "false").sum() == column.len() - column.null_count():
        return true
    return column.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)


def _datetime(column: pl.Series) -> pl.Series | None:
    """Arrow's parse, where every value has one of the ``_FAST`` shapes: checked on the bytes when
    all values are as wide as the first and have its separators (the usual, machine-written
    column; ~10x cheaper than the pattern), else by the pattern itself."""
    values = column.drop_nulls() if column.null_count() else column
    if not values.len():
        return None
    text = values.to_arrow()
    for shape, target in _FAST_RE:
        if not shape.match(text[0].as_py()):
            continue
        if not one_shape(text) and not values.str.contains(shape.pattern).all():
            return None
        try:
            cast = pc.cast(text if values is column else column.to_arrow(), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # a value arrow refuses: the slow path decides which rows are bad
        typed = pl.Series(column.name, cast)
        return typed.dt.replace_time_zone("UTC") if target == pa.timestamp("us") else typed
    return None


def one_shape(text: pa.Array) -> bool:
    """Every value (no nulls) has the first one's width in bytes and its non-digit bytes, at the
    same places. A value arrow then parses has digits elsewhere (its ISO 8601 parser accepts only
    digits in the fields these separators delimit), so it has the first value's shape."""
    if text.type not in (pa.string(), pa.large_string()) or text.null_count:
        return False
    first = text[0].as_py().encode()
    width = len(first)
    low, high = pc.min_max(pc.binary_length(text)).values()
    if low.as_py() != width or high.as_py() != width:
        return False
    _, offsets, body = text.buffers()
    kind = pa.int64() if text.type == pa.large_string() else pa.int32()
    start = pa.Array.from_buffers(kind, 1, [None, offsets], offset=text.offset)[0].as_py()
    data = pl.Series(pa.Array.from_buffers(pa.uint8(), width * len(text), [None, body], offset=start))
    checks = [
        (pl.col("b").gather_every(width, i) == byte).all()
        for i, byte in enumerate(first)
        if not 48 <= byte <= 57
    ]
    return bool(data.to_frame("b").select(pl.all_horizontal(checks)).item())
