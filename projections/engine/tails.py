"""Flat payloads read by regex, natively in polars: the JSON text of scalar members exactly
as lakeledger's encoder (msgspec) writes them. A row a pattern does not match is left to the
decoder (``payload.py``), so the values never differ from decoding (property-tested)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

# The JSON text of one scalar as lakeledger's encoder (msgspec) writes it. Only text every
# decoder reads the same way: strings without escapes (the text is the value), integers that
# fit an Int64, numbers with at most a two-digit exponent; anything else takes the decoder.
_SCALAR_TEXT: dict[type[pl.DataType], str] = {
    pl.String: r'"([^"\\]*)"',
    pl.Boolean: "(true|false)",
    pl.Int64: "(-?(?:0|[1-9][0-9]{0,17}))",
    pl.Float64: r"(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,2})?)",
}


def tail_pattern(fields: Sequence[tuple[str, pl.DataType]]) -> str | None:
    """A regex matching a flat JSON object that ends with exactly these members, in order,
    capturing each value's text. Strings inside JSON strings have their quotes escaped, so
    ``"name":`` after ``{`` or ``,`` is always a member name, and ``}`` at the very end closes
    the object itself: a matched row's captures are its values (a repeated name: the last)."""
    members = []
    for name, dtype in fields:
        text = _SCALAR_TEXT.get(dtype.base_type())
        if text is None:
            return None
        members.append(f'"{re.escape(name)}":{text}')
    return "[{,]" + ",".join(members) + r"\}$"


def parsed(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A captured value's text as ``dtype`` (null where it does not parse: the decoder then)."""
    if dtype.base_type() is pl.String:
        return text
    if dtype.base_type() is pl.Boolean:
        return text == "true"
    return text.cast(dtype, strict=False)


def scalar_json_pattern(field: str) -> str:
    """A regex for the JSON text of a scalar ``field`` of a flat payload (a string keeps its
    quotes): the first ``"field":`` after ``{`` or ``,`` outside a string (quotes inside strings
    are escaped, so they never match). Only for kinds whose payload nests no objects."""
    return '[{,]"' + re.escape(field) + r'":("(?:[^"\\]|\\.)*"|[^,}]*)'


def parse_tails(
    fields: Sequence[tuple[str, pl.DataType]], pattern: str, payload: pl.Series
) -> tuple[pl.DataFrame, pl.Series]:
    """(the ``fields`` parsed from each payload's tail by ``pattern``, the rows it missed:
    their values are null and must be decoded)."""
    groups = payload.str.extract_groups(pattern).struct.unnest()
    fast = groups.select([parsed(pl.col(str(i)), t).alias(f) for i, (f, t) in enumerate(fields, 1)])
    missed = fast.select(~pl.all_horizontal(pl.all().is_not_null())).to_series()
    return fast, missed
