"""The dataset schema: one typed struct and the one ``schema_hash``, whoever produced the data.

Stages, ingestion and the watcher all describe data with a ``DatasetSchema`` (columns with a
canonical type name and nullability), so the same data gets the same hash and a watcher judges a
stage's or an ingestion's output by the schema they declared. Every shape that was ever written
into ``dataset.declared`` is read by ``DatasetSchema.parse``:

- the record spec of ingestion and the watcher's ``{column: type}``: ``{"id": "int", "amount":
  "float?"}`` – Python words (``int`` = int64, ``float`` = float64, ``str``, ``bool``, ``date``,
  ``datetime`` = UTC microseconds, ``json``), precise names (``int32``, ``float32``,
  ``timestamp[ns]``...) and Arrow/polars names; ``?`` means nullable;
- the Spark/Delta JSON ``{"fields": [{"name", "type", "nullable"}]}`` (``integer`` = int32 there);
- the stage's ``{"columns": [{"name", "dtype"}], "schema_hash"}`` (polars dtype names);
- this struct's own encoding ``{"columns": [{"name", "type", "nullable"}]}``.

Canonical types: ``bool``, ``int8``..``int64``, ``uint8``..``uint64``, ``float16/32/64``,
``string``, ``binary``, ``date``, ``time``, ``null``, ``timestamp[us,UTC]`` / ``timestamp[ns]``,
``duration[us]``, ``decimal[10,2]``, ``list[int64]``, ``struct[a:int64,b:string]``; ``any`` accepts
every type, and a declared type without parameters (``timestamp``) accepts any parameters.

The hash covers names and types in order, not nullability: Parquet written by polars marks every
column nullable, so nullability is not something the files can agree on.
"""

from __future__ import annotations

import hashlib
import re
import sys
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # pyarrow is imported where Arrow types are read: events need no data library
    import pyarrow as pa

from .errors import InvalidInput

WILDCARD = "any"


class Column(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    type: str  # canonical, see the module docstring
    nullable: bool = True


class DatasetSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Columns of a dataset in order. Build with ``parse`` / ``from_arrow`` / ``from_polars``."""

    columns: tuple[Column, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    @property
    def hash(self) -> str:
        return schema_hash(self)

    def without(self, names: set[str] | tuple[str, ...] | list[str]) -> DatasetSchema:
        """The schema minus ``names`` (e.g. hive partition keys, which live in the path)."""
        drop = set(names)
        return DatasetSchema(tuple(c for c in self.columns if c.name not in drop))

    def spec(self) -> dict[str, str]:
        """The ``{column: "type?"}`` form, for people and configs."""
        return {c.name: c.type + ("?" if c.nullable else "") for c in self.columns}

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> DatasetSchema:
        return cls(tuple(Column(f.name, arrow_type(f.type), f.nullable) for f in schema))

    @classmethod
    def from_polars(cls, data: Any) -> DatasetSchema:
        """From a polars ``Schema``, ``DataFrame`` or ``LazyFrame`` (no data is read)."""
        import polars as pl

        if isinstance(data, pl.LazyFrame | pl.DataFrame):
            data = data.collect_schema()
        empty = pl.DataFrame(schema=data).to_arrow()
        return cls(tuple(Column(f.name, arrow_type(f.type), True) for f in empty.schema))

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, dialect: str = "python") -> DatasetSchema:
        """From ``{column: "type"}`` (``?`` suffix = nullable; without it, not null)."""
        columns = []
        for name, text in spec.items():
            if not isinstance(text, str):
                raise InvalidInput(f"schema.{name}: the type must be a string like 'int' or 'float?', "
                                   f"got {text!r}")
            raw = text.strip()
            columns.append(Column(str(name), parse_type(raw.rstrip("?"), dialect), raw.endswith("?")))
        return cls(tuple(columns))

    @classmethod
    def parse(cls, obj: Any) -> DatasetSchema | None:
        """Any schema shape ever declared (see the module docstring); ``None`` for none."""
        if obj is None or isinstance(obj, DatasetSchema):
            return obj
        arrow = sys.modules.get("pyarrow")  # an Arrow schema exists only once pyarrow is loaded
        if arrow is not None and isinstance(obj, arrow.Schema):
            return cls.from_arrow(obj)
        if not isinstance(obj, dict):
            raise InvalidInput(f"a dataset schema must be an object, got {type(obj).__name__}")
        if not obj:
            return None
        fields = obj.get("fields")
        if isinstance(fields, list | tuple) and set(obj) <= {"fields", "type"}:
            return cls(tuple(_spark_column(f) for f in fields))
        cols = obj.get("columns")
        if isinstance(cols, list | tuple) and set(obj) <= {"columns", "schema_hash", "format", "stats"}:
            return cls(tuple(_listed_column(c) for c in cols))
        return cls.from_spec(obj)


def schema_hash(schema: DatasetSchema) -> str:
    """The one hash of a schema: SHA-256 over ``[[name, type], ...]`` in column order."""
    pairs = [[c.name, c.type] for c in schema.columns]
    return hashlib.sha256(msgspec.json.encode(pairs)).hexdigest()


def differences(expected: DatasetSchema, observed: DatasetSchema, *, check_types: bool = True
                ) -> dict[str, Any]:
    """Missing, unexpected and retyped columns; empty when ``observed`` conforms."""
    want, have = expected.types, observed.types
    out: dict[str, Any] = {}
    if missing := [c for c in want if c not in have]:
        out["missing"] = missing
    if extra := [c for c in have if c not in want]:
        out["unexpected"] = extra
    if check_types:
        retyped = {c: {"expected": want[c], "observed": have[c]}
                   for c in want if c in have and not type_matches(want[c], have[c])}
        if retyped:
            out["retyped"] = retyped
    return out


def type_matches(expected: str, observed: str) -> bool:
    if expected in (WILDCARD, observed):
        return True
    return "[" not in expected and family(observed) == expected


def family(type_name: str) -> str:
    return type_name.split("[", 1)[0]


# -- type names --------------------------------------------------------------------------------
_SIMPLE = {
    "bool": "bool", "boolean": "bool",
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
    "tinyint": "int8", "byte": "int8", "smallint": "int16", "short": "int16",
    "bigint": "int64", "long": "int64",
    "float16": "float16", "halffloat": "float16", "float32": "float32", "f32": "float32",
    "float64": "float64", "f64": "float64", "double": "float64",
    "string": "string", "str": "string", "utf8": "string", "large_string": "string",
    "large_utf8": "string", "string_view": "string", "text": "string", "varchar": "string",
    "categorical": "string", "enum": "string", "json": "string",
    "binary": "binary", "large_binary": "binary", "binary_view": "binary", "bytes": "binary",
    "date": "date", "date32": "date", "date32[day]": "date", "date64": "date", "date64[ms]": "date",
    "time": "time", "time64[us]": "time", "time64[ns]": "time",
    "null": "null", "timestamp": "timestamp", "duration": "duration", "decimal": "decimal",
    "list": "list", "struct": "struct",
    "any": WILDCARD, "*": WILDCARD, "?": WILDCARD,
}
# Python words of the record spec (what ingestion writes) vs Spark/Delta JSON words.
_DIALECTS = {
    "python": {"int": "int64", "integer": "int64", "float": "float64", "real": "float64",
               "datetime": "timestamp[us,UTC]"},
    "spark": {"int": "int32", "integer": "int32", "float": "float32", "real": "float32",
              "datetime": "timestamp[us,UTC]", "timestamp": "timestamp[us,UTC]",
              "timestamp_ntz": "timestamp[us]"},
}
_PARAMS = re.compile(r"^([a-z0-9_]+)\s*[\[(<](.*)[\])>]$", re.S | re.I)


def parse_type(text: str, dialect: str = "python") -> str:
    """Canonical name of a declared or printed type (Python, Spark, Arrow or polars spelling)."""
    raw = str(text).strip()
    key = raw.lower().replace(" ", "")
    if key in _DIALECTS[dialect]:
        return _DIALECTS[dialect][key]
    if key in _SIMPLE:
        return _SIMPLE[key]
    match = _PARAMS.match(raw)
    if match is None:
        return key
    head, inner = match.group(1).lower(), match.group(2)
    args = [a.strip().strip("'\"") for a in _split(inner)]
    if head in ("timestamp", "datetime"):
        unit = _kv(args, ("time_unit", "unit"), 0) or "us"
        unit, tz = unit.lower(), _kv(args, ("time_zone", "tz"), 1)
        return f"timestamp[{unit},{tz}]" if tz and tz.lower() != "none" else f"timestamp[{unit}]"
    if head == "duration":
        return f"duration[{_kv(args, ('time_unit', 'unit'), 0) or 'us'}]"
    if head in ("decimal", "decimal128", "decimal256"):
        precision, scale = _kv(args, ("precision",), 0), _kv(args, ("scale",), 1) or "0"
        return f"decimal[{precision},{scale}]" if precision and precision != "none" else "decimal"
    if head in ("list", "large_list", "array", "list_view"):
        item = args[0].split(":", 1)[-1].strip() if args else WILDCARD
        return f"list[{parse_type(item, dialect) if item else WILDCARD}]"
    if head in ("date32", "date64"):
        return "date"
    if head in ("time32", "time64"):
        return "time"
    return _SIMPLE.get(head, key)


def arrow_type(t: pa.DataType) -> str:
    """Canonical name of an Arrow type (what Parquet files and Delta tables hold)."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return arrow_type(t.value_type)
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit},{t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_duration(t):
        return f"duration[{t.unit}]"
    if pa.types.is_decimal(t):
        return f"decimal[{t.precision},{t.scale}]"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"list[{arrow_type(t.value_type)}]"
    if pa.types.is_struct(t):
        return "struct[" + ",".join(f"{f.name}:{arrow_type(f.type)}" for f in t) + "]"
    return parse_type(str(t))


def _split(inner: str) -> list[str]:
    """Split on top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in inner:
        depth += ch in "[(<"
        depth -= ch in "])>"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur.strip() else out


def _kv(args: list[str], names: tuple[str, ...], position: int) -> str | None:
    for a in args:
        key, sep, value = a.partition("=")
        if sep and key.strip() in names:
            return value.strip().strip("'\"")
    positional = [a for a in args if "=" not in a]
    return positional[position] if position < len(positional) else None


def _spark_column(f: Any) -> Column:
    if not isinstance(f, dict) or "name" not in f:
        raise InvalidInput(f"schema.fields: every field needs a name, got {f!r}")
    kind = f.get("type", WILDCARD)
    return Column(str(f["name"]), parse_type(kind, "spark") if isinstance(kind, str) else WILDCARD,
                  bool(f.get("nullable", True)))


def _listed_column(c: Any) -> Column:
    if not isinstance(c, dict) or "name" not in c:
        raise InvalidInput(f"schema.columns: every column needs a name, got {c!r}")
    kind = c.get("type", c.get("dtype", WILDCARD))
    return Column(str(c["name"]), parse_type(kind) if isinstance(kind, str) else WILDCARD,
                  bool(c.get("nullable", True)))
