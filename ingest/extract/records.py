"""A source's record schema: a ``msgspec.Struct``, plus the vectorised check of the same rules.

A schema is written in the config (``{id = "int", amount = "float?"}``, ``?`` = may be null) or
named as ``package.module:Struct``. JSON records are checked one by one with ``msgspec.convert``;
tabular batches (CSV, SQL) arrive as text columns and are checked column-wise with polars casts
(``strict=False``: a value that does not cast becomes null, so "null but was not" marks a bad row).
That keeps 1M-row files fast while the Struct stays the single declaration.
"""

from __future__ import annotations

import datetime as dt
import importlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import polars as pl
from lakeledger.ingest.extract.casts import cast_text, fast_cast
from lakeledger.store.errors import InvalidInput

Kind = Literal["str", "int", "float", "bool", "date", "datetime", "json"]
_PY: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "date": dt.date,
    "datetime": dt.datetime,
    "json": Any,
}
DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
    "json": pl.String(),
}
REASON, RAW, ORIGIN, ROW = "_reason", "_raw", "_origin", "_row"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool


@dataclass(frozen=True)
class Checked:
    """A batch split in two: typed valid rows, and bad rows with raw record and reason."""

    valid: pl.DataFrame
    bad: pl.DataFrame  # columns: _raw (JSON text), _reason, plus the origin columns kept


class RecordSchema:
    def __init__(self, struct: type[msgspec.Struct], columns: Sequence[Column]) -> None:
        self.struct = struct
        self.columns = list(columns)
        self.names = [c.name for c in self.columns]

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: dict[str, str], name: str = "Record") -> RecordSchema:
        columns: list[Column] = []
        for column, text in spec.items():
            kind = text.strip().rstrip("?").strip()
            if kind not in _PY:
                raise InvalidInput(
                    f"schema.{column}: unknown type {text!r}; use one of {', '.join(_PY)} "
                    "(add '?' when the value may be missing, e.g. 'float?')"
                )
            columns.append(Column(column, kind, text.strip().endswith("?")))  # type: ignore[arg-type]
        fields = [
            (c.name, _PY[c.kind] | None, None) if c.nullable else (c.name, _PY[c.kind]) for c in columns
        ]
        fields.sort(key=lambda f: len(f) == 3)  # required fields first, as Python requires
        struct = msgspec.defstruct(name, fields, kw_only=True)  # type: ignore[arg-type]
        return cls(struct, columns)

    @classmethod
    def from_struct(cls, struct: type[msgspec.Struct]) -> RecordSchema:
        hints = typing.get_type_hints(struct)
        columns = []
        for field in struct.__struct_fields__:
            kind, nullable = _kind_of(hints[field])
            columns.append(Column(field, kind, nullable))
        return cls(struct, columns)

    @classmethod
    def named(cls, target: str) -> RecordSchema:
        """``package.module:Struct`` (or ``package.module.Struct``)."""
        module, sep, attr = target.partition(":")
        if not sep:
            module, _, attr = target.rpartition(".")
        try:
            struct = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise InvalidInput(
                f"schema {target!r} cannot be imported ({exc}); give 'package.module:StructName'"
            ) from None
        if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            raise InvalidInput(f"schema {target!r} is not a msgspec.Struct class")
        return cls.from_struct(struct)

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: DTYPES[c.kind] for c in self.columns})

    def describe(self) -> dict[str, str]:
        return {c.name: c.kind + ("?" if c.nullable else "") for c in self.columns}

    # -- checking ----------------------------------------------------------------------------
    def check_frame(self, frame: pl.DataFrame, keep: Sequence[str] = ()) -> Checked:
        """Check a frame of text columns; ``keep`` columns (origin, row number) pass through.

        Eager column operations, one filter, and the reasons only for the bad rows: on 64k-row
        parts, each lazy ``with_columns``/``filter`` costs more in planning than in work."""
        text_cols = [c for c in frame.columns if c not in keep]
        if any(frame.schema[c] != pl.String for c in text_cols):
            frame = frame.with_columns(pl.col(c).cast(pl.String) for c in text_cols)
        typed: list[pl.Series] = []
        bad_row: pl.Series | None = None
        for col in self.columns:
            if col.name in frame.columns:
                raw = frame[col.name]
                value = raw if col.kind in ("str", "json") else fast_cast(raw, col.kind)
                if value is None:
                    value = frame.select(cast_text(pl.col(col.name), col.kind)).to_series()
                typed.append(value.alias(col.name))
                # (a cast only adds nulls: as many nulls as the text, nothing failed)
                if col.kind not in ("str", "json") and value.null_count() != raw.null_count():
                    failed = raw.is_not_null() & value.is_null()
                    bad_row = failed if bad_row is None else bad_row | failed
                if not col.nullable and raw.null_count():
                    bad_row = raw.is_null() if bad_row is None else bad_row | raw.is_null()
            else:
                typed.append(pl.Series(col.name, [None] * frame.height, DTYPES[col.kind]))
                if not col.nullable:
                    bad_row = pl.Series([True] * frame.height, dtype=pl.Boolean)
        checked = pl.DataFrame([*typed, *(frame[k] for k in keep)])
        if bad_row is None or not bad_row.any():  # the common case: no copy of the rows
            return Checked(checked, _empty_bad(frame, keep))
        valid = checked.filter(~bad_row)
        # reasons are built for the bad rows only: building them for every row costs more
        # than the whole check
        rows = frame.filter(bad_row).with_columns(
            v.filter(bad_row).alias(_typed(v.name)) for v in typed if v.name in frame.columns
        )
        problems = self._problems(frame.columns)
        reason = pl.coalesce(pl.when(p).then(w) for p, w in problems) if problems else pl.lit("")
        raw_json = pl.struct(text_cols).struct.json_encode() if text_cols else pl.lit("{}")
        bad = rows.select(raw_json.alias(RAW), reason.alias(REASON), *keep)
        return Checked(valid, bad)

    def _problems(self, present: Sequence[str]) -> list[tuple[pl.Expr, pl.Expr]]:
        """(row is bad, why) per check, in the order the reason names the first that failed; on
        the bad rows with each typed value beside its text (``_typed``)."""
        problems = []
        for col in self.columns:
            missing = pl.col(col.name).is_null() if col.name in present else pl.lit(True)
            if col.name in present and col.kind not in ("str", "json"):
                text = pl.col(col.name)
                expected = pl.lit(f"{col.name}: expected {col.kind}, got '")
                why = pl.concat_str(expected, text.str.slice(0, 60), pl.lit("'"))
                problems.append((text.is_not_null() & pl.col(_typed(col.name)).is_null(), why))
            if not col.nullable:
                problems.append((missing, pl.lit(f"{col.name}: required value is missing")))
        return problems

    def check_records(self, records: Sequence[Any], origin: str = "", first_row: int = 0) -> Checked:
        """Check JSON records with the Struct itself (nested values become JSON text)."""
        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for i, record in enumerate(records, start=first_row):
            try:
                item = msgspec.convert(record, self.struct, strict=False)
            except msgspec.ValidationError as exc:
                bad.append({RAW: _json(record), REASON: _reason(str(exc)), ORIGIN: origin, ROW: i})
                continue
            row = {c.name: _column_value(getattr(item, c.name), c.kind) for c in self.columns}
            good.append({**row, ORIGIN: origin, ROW: i})
        origin_schema = {ORIGIN: pl.String(), ROW: pl.Int64()}
        valid = pl.DataFrame(good, schema={**self.polars_schema, **origin_schema})
        bad_frame = pl.DataFrame(bad, schema={RAW: pl.String(), REASON: pl.String(), **origin_schema})
        return Checked(valid, bad_frame)


def rejected(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Rows a reader already rejected (``_reason`` set: a ragged CSV line, an over-long record)
    apart: (the other rows without those columns, the rejected ones as quarantine rows)."""
    if REASON not in frame.columns:
        return frame, None
    if frame[REASON].null_count() == frame.height:  # none (the usual case): no copy of the rows
        return frame.drop(RAW, REASON), None
    keep = [c for c in (ORIGIN, ROW) if c in frame.columns]
    bad = frame.filter(pl.col(REASON).is_not_null()).select(RAW, REASON, *keep)
    rest = frame.filter(pl.col(REASON).is_null()).drop(RAW, REASON)
    return rest, bad if bad.height else None


def _typed(name: str) -> str:
    return f"__typed_{name}"


def _empty_bad(frame: pl.DataFrame, keep: Sequence[str]) -> pl.DataFrame:
    """No quarantine rows, in the columns a bad-rows frame has."""
    return pl.DataFrame(schema={RAW: pl.String, REASON: pl.String, **{k: frame.schema[k] for k in keep}})


def _kind_of(annotation: Any) -> tuple[Kind, bool]:
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else Any
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    for kind in ("bool", "int", "float", "str", "datetime", "date"):
        if annotation is _PY[kind]:
            return kind, nullable  # type: ignore[return-value]
    return "json", nullable


def _column_value(value: Any, kind: str) -> Any:
    if kind == "json":
        return None if value is None else _json(value)
    if kind == "datetime" and value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _json(value: Any) -> str:
    return msgspec.json.encode(value, enc_hook=str).decode()


def _reason(message: str) -> str:
    text, sep, at = message.rpartition(" - at ")
    return f"{at.strip('`').replace('$.', '', 1)}: {text}" if sep else message
