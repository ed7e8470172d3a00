"""What "this column has the right type" means for each way a type can be written.

A schema may name a dtype as a polars instance (exact: ``pl.Datetime("us", "UTC")``), a
polars class (any parameters: ``pl.Datetime``), a Python type (a family: ``int`` is any
integer width), the string polars prints (``"Int64"``, as in ``.schema.json``) or ``object``
(any dtype).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

DtypeLike = pl.DataType | type[pl.DataType] | type | str

_FAMILIES: dict[type, Any] = {
    bool: lambda d: d == pl.Boolean,
    int: lambda d: d.is_integer(),
    float: lambda d: d.is_float(),
    str: lambda d: d in (pl.String, pl.Categorical) or isinstance(d, pl.Enum),
    bytes: lambda d: d == pl.Binary,
    datetime: lambda d: isinstance(d, pl.Datetime),
    date: lambda d: d == pl.Date,
    time: lambda d: d == pl.Time,
    timedelta: lambda d: isinstance(d, pl.Duration),
    Decimal: lambda d: isinstance(d, pl.Decimal),
}


def dtype_matches(actual: pl.DataType, expected: DtypeLike) -> bool:
    if expected is object:  # "any dtype": only the column's presence matters
        return True
    if isinstance(expected, str):
        return str(actual) == expected
    if isinstance(expected, pl.DataType):
        return str(actual) == str(expected)
    if isinstance(expected, type) and issubclass(expected, pl.DataType):
        return actual.base_type() == expected
    if expected in _FAMILIES:
        return bool(_FAMILIES[expected](actual))
    raise TypeError(f"cannot compare a dtype with {expected!r}")


def dtype_name(expected: DtypeLike) -> str:
    if isinstance(expected, str):
        return expected
    if isinstance(expected, pl.DataType):
        return str(expected)
    if expected is object:
        return "any"
    if isinstance(expected, type):
        return expected.__name__
    return repr(expected)
