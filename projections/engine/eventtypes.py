"""The polars type of every event field, derived from the msgspec event classes themselves,
so a view can never disagree with the vocabulary: scalars, dates, times and lists of them
typed; free-form fields (``Any``, scalar unions, mappings) as their JSON text."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec
import polars as pl
from lakeledger.store.events import Event

JSON = pl.String  # the polars type of a free-form field: its JSON text (strings unquoted)

_inspect = msgspec.inspect


def _dtype(t: _inspect.Type) -> pl.DataType | None:
    """The polars type of one msgspec field type; ``None`` for free-form (JSON text)."""
    if isinstance(t, _inspect.UnionType):
        inner = [x for x in t.types if not isinstance(x, _inspect.NoneType)]
        return _dtype(inner[0]) if len(inner) == 1 else None
    if isinstance(t, _inspect.StrType):
        return pl.String()
    if isinstance(t, _inspect.LiteralType):
        return pl.String() if all(isinstance(v, str) for v in t.values) else None
    if isinstance(t, _inspect.BoolType):
        return pl.Boolean()
    if isinstance(t, _inspect.IntType):
        return pl.Int64()
    if isinstance(t, _inspect.FloatType):
        return pl.Float64()
    if isinstance(t, _inspect.DateType):
        return pl.Date()
    if isinstance(t, _inspect.DateTimeType):
        return pl.Datetime("us", "UTC")
    if isinstance(t, _inspect.ListType):
        item = _dtype(t.item_type)
        return pl.List(item) if item is not None else None
    return None


@functools.cache
def fields_of(cls: type[Event]) -> dict[str, tuple[pl.DataType | None, object]]:
    """``{field: (polars type or None for JSON text, default to fill a missing value)}``."""
    out: dict[str, tuple[pl.DataType | None, object]] = {}
    for f in _inspect.type_info(cls).fields:  # type: ignore[union-attr]
        default = f.default if isinstance(f.default, str | int | float | bool) else None
        out[f.name] = (_dtype(f.type), default)
    return out


def dtypes(cls: type[Event], fields: Sequence[str]) -> dict[str, pl.DataType]:
    """The polars types of ``fields`` of ``cls``, derived from the msgspec class."""
    known = fields_of(cls)
    missing = [f for f in fields if f not in known]
    if missing:
        raise KeyError(f"{cls.__name__} has no field {missing}")
    return {f: known[f][0] or JSON() for f in fields}


def tag_of(cls: type[Event]) -> str:
    return cls.__struct_config__.tag  # type: ignore[return-value]
