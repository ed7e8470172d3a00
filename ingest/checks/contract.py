"""A data contract declared as a ``msgspec.Struct``: one field per column.

The struct says what a stage's input or output must look like, and the checks follow from
it: the field type gives the dtype family (``int`` is any integer width, or exact with
``Annotated[int, pl.Int32]``), ``X | None`` allows nulls (else ``NoNulls``), ``Literal[...]``
gives allowed categories, ``Meta(ge=, le=, gt=, lt=)`` gives a range.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import polars as pl
from lakeledger.ingest.checks.boundary import NoNulls
from lakeledger.ingest.checks.check import Check
from lakeledger.ingest.checks.dtypes import DtypeLike
from lakeledger.ingest.checks.quality import Categories, Range, Schema
from lakeledger.store.errors import InvalidInput
from msgspec import inspect as mi

_SIMPLE: dict[type, DtypeLike] = {
    mi.IntType: int,
    mi.FloatType: float,
    mi.StrType: str,
    mi.BoolType: bool,
    mi.DateTimeType: datetime,
    mi.DateType: date,
    mi.TimeType: time,
    mi.TimeDeltaType: timedelta,
    mi.DecimalType: Decimal,
    mi.BytesType: bytes,
    mi.ListType: pl.List,
    mi.DictType: pl.Struct,
}


@dataclass
class Contract:
    name: str
    dtypes: dict[str, DtypeLike] = field(default_factory=dict)
    nullable: dict[str, bool] = field(default_factory=dict)
    categories: dict[str, list[Any]] = field(default_factory=dict)
    bounds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, struct: type[msgspec.Struct]) -> Contract:
        if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            raise InvalidInput(f"a schema must be a msgspec.Struct class, got {struct!r}")
        hints = typing.get_type_hints(struct, include_extras=True)
        contract = cls(struct.__name__)
        for f in mi.type_info(struct).fields:  # type: ignore[union-attr]
            t, nullable = f.type, False
            if isinstance(t, mi.UnionType):
                rest = [u for u in t.types if not isinstance(u, mi.NoneType)]
                nullable = len(rest) < len(t.types)
                t = rest[0] if len(rest) == 1 else mi.AnyType()
            contract.nullable[f.name] = nullable or isinstance(t, mi.AnyType)
            exact = [
                m
                for m in getattr(hints.get(f.name), "__metadata__", ())
                if isinstance(m, pl.DataType)
                or (isinstance(m, type) and issubclass(m, pl.DataType))
            ]
            if exact:
                contract.dtypes[f.name] = exact[0]
            elif isinstance(t, mi.LiteralType):
                contract.dtypes[f.name] = type(t.values[0])
                contract.categories[f.name] = list(t.values)
            elif type(t) in _SIMPLE:
                contract.dtypes[f.name] = _SIMPLE[type(t)]
            bounds = {k: getattr(t, k, None) for k in ("ge", "gt", "le", "lt")}
            if any(v is not None for v in bounds.values()):
                contract.bounds[f.name] = bounds
        return contract

    @property
    def columns(self) -> list[str]:
        return list(self.nullable)

    def checks(self, *, strict: bool = False) -> list[Check]:
        """The checks this contract implies (``strict``: no columns beyond the declared ones)."""
        dtypes = {c: self.dtypes.get(c, object) for c in self.columns}  # object: any dtype
        out: list[Check] = [Schema(dtypes, strict=strict)]
        required = [c for c, ok in self.nullable.items() if not ok]
        if required:
            out.append(NoNulls(required))
        out += [Categories(c, values) for c, values in self.categories.items()]
        for column, b in self.bounds.items():
            low = b["ge"] if b["ge"] is not None else b["gt"]
            high = b["le"] if b["le"] is not None else b["lt"]
            if (b["gt"] is None) == (b["lt"] is None) or low is None or high is None:
                out.append(Range(column, low, high, inclusive=b["gt"] is None and b["lt"] is None))
            else:  # one bound open, the other closed: two one-sided checks
                out += [
                    Range(column, min=low, inclusive=b["gt"] is None),
                    Range(column, max=high, inclusive=b["lt"] is None),
                ]
        return out
