"""Schemas of landed files: a canonical form, a stable hash, and a comparison with the schema
declared for the dataset (``dataset.declared`` ``schema``).

A declared schema is ``{"column": "type", ...}`` (or ``{"fields": [{"name", "type"}]}``, the
Delta/Spark JSON shape). Type names are compared after normalising common aliases, so
``utf8``/``large_string``/``String`` all mean ``string``; a declared type without parameters
(``timestamp``, ``decimal``, ``list``) accepts any parameters; ``any`` accepts every type.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pyarrow as pa

Columns = dict[str, str]

_ALIASES = {
    "utf8": "string", "large_string": "string", "large_utf8": "string", "string_view": "string",
    "str": "string", "text": "string", "varchar": "string",
    "large_binary": "binary", "binary_view": "binary", "bytes": "binary",
    "float64": "double", "f64": "double", "float32": "float", "f32": "float", "real": "float",
    "float16": "halffloat", "boolean": "bool",
    "long": "int64", "bigint": "int64", "i64": "int64", "integer": "int32", "int": "int32",
    "i32": "int32", "short": "int16", "smallint": "int16", "i16": "int16", "byte": "int8",
    "tinyint": "int8", "i8": "int8", "u8": "uint8", "u16": "uint16", "u32": "uint32",
    "u64": "uint64",
    "date": "date32", "date32[day]": "date32", "date64[ms]": "date64",
    "datetime": "timestamp", "timestamp_ntz": "timestamp",
}
_WILDCARDS = {"any", "*", "?"}


def normalise_type(name: str) -> str:
    text = str(name).strip().lower().replace(" ", "")
    return _ALIASES.get(text, text)


def _family(text: str) -> str:
    for i, ch in enumerate(text):
        if ch in "[(<":
            return _ALIASES.get(text[:i], text[:i])
    return text


def columns_of(schema: pa.Schema) -> Columns:
    """Column name -> normalised Arrow type name, in file order."""
    return {f.name: normalise_type(str(f.type)) for f in schema}


def schema_hash(columns: Columns) -> str:
    """Stable across processes: the same columns and types give the same hash."""
    return hashlib.sha256(msgspec.json.encode(list(columns.items()))).hexdigest()


def declared_columns(schema: dict[str, Any] | None) -> Columns | None:
    """The declared schema as ``{column: type}``; ``None`` when nothing usable was declared."""
    if not schema:
        return None
    fields = schema.get("fields")
    if isinstance(fields, list):
        out: Columns = {}
        for f in fields:
            if isinstance(f, dict) and "name" in f:
                kind = f.get("type", "any")
                out[str(f["name"])] = normalise_type(kind if isinstance(kind, str) else "any")
        return out or None
    return {str(k): normalise_type(v if isinstance(v, str) else "any") for k, v in schema.items()}


def _type_matches(expected: str, observed: str) -> bool:
    if expected in _WILDCARDS or expected == observed:
        return True
    has_params = any(ch in expected for ch in "[(<")
    return not has_params and _family(observed) == _family(expected)


def differences(
    expected: Columns, observed: Columns, *, check_types: bool = True
) -> dict[str, Any]:
    """Missing, unexpected and retyped columns; empty when ``observed`` conforms."""
    missing = [c for c in expected if c not in observed]
    extra = [c for c in observed if c not in expected]
    retyped = {}
    if check_types:
        retyped = {
            c: {"expected": expected[c], "observed": observed[c]}
            for c in expected
            if c in observed and not _type_matches(expected[c], observed[c])
        }
    out: dict[str, Any] = {}
    if missing:
        out["missing"] = missing
    if extra:
        out["unexpected"] = extra
    if retyped:
        out["retyped"] = retyped
    return out
