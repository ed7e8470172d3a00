"""Schema and stats of a DataFrame, as dicts for events and as ``<name>.schema.json`` /
``<name>.stats.json`` files next to the data; and a validator against such a schema file.

The schema is names + polars dtype strings (``str(dtype)``), hashed so events can refer to
it. Stats (rows, nulls, min/max, distinct counts) are computed in one ``select``.
"""

from __future__ import annotations

import posixpath
from typing import Any

import msgspec
import polars as pl
from lakeledger.ingest.checks.frames import as_polars
from lakeledger.ingest.checks.quality import Schema
from lakeledger.ingest.checks.result import CheckResult, Severity, jsonable
from lakeledger.ingest.checks.suite import aggregate
from lakeledger.store.errors import InvalidInput
from lakeledger.store.location import Location
from lakeledger.store.schema import DatasetSchema
from lakeledger.store.storage import filesystem


def schema_of(data: Any) -> dict[str, Any]:
    """``{"columns": [{"name", "dtype"}...], "schema_hash"}`` – no data is read. The hash is the
    store's one ``schema_hash``, so it equals what the watcher computes for the written files."""
    schema = as_polars(data).collect_schema()
    columns = [{"name": n, "dtype": str(t)} for n, t in schema.items()]
    return {"columns": columns, "schema_hash": DatasetSchema.from_polars(schema).hash}


def _orderable(dtype: pl.DataType) -> bool:
    return (
        dtype.is_numeric()
        or dtype.is_temporal()
        or dtype in (pl.String, pl.Boolean)
        or isinstance(dtype, pl.Enum)
    )


def stats_of(data: Any) -> dict[str, Any]:
    """Row count and per-column nulls, min, max and distinct count, in one pass."""
    frame = as_polars(data)
    schema = frame.collect_schema()
    exprs = [pl.len().alias("__rows__")]
    for name, dtype in schema.items():
        col = pl.col(name)
        exprs += [col.null_count().alias(f"{name}\0nulls")]
        if _orderable(dtype):
            exprs += [col.min().alias(f"{name}\0min"), col.max().alias(f"{name}\0max")]
        if not isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object):
            exprs += [col.n_unique().alias(f"{name}\0distinct")]
    row = aggregate(frame, exprs, None).row(0, named=True)
    columns: dict[str, dict[str, Any]] = {name: {"dtype": str(t)} for name, t in schema.items()}
    for key, value in row.items():
        if key != "__rows__":
            name, stat = key.split("\0")
            columns[name][stat] = value
    return jsonable({"rows": row["__rows__"], "columns": columns})


def write_metadata(
    data: Any, out_dir: str, name: str, *, storage_options: dict[str, str] | None = None
) -> tuple[str, str]:
    """Write ``<name>.schema.json`` and ``<name>.stats.json`` under ``out_dir``; return paths."""
    location = Location.of(out_dir, storage_options)
    fs, base = filesystem(location)
    fs.makedirs(base, exist_ok=True)
    paths = []
    for suffix, content in (("schema", schema_of(data)), ("stats", stats_of(data))):
        path = posixpath.join(base, f"{name}.{suffix}.json")
        with fs.open(path, "wb") as fh:
            fh.write(msgspec.json.format(msgspec.json.encode(content), indent=2))
        paths.append(path)
    return paths[0], paths[1]


def read_schema_file(path: str, storage_options: dict[str, str] | None = None) -> dict[str, str]:
    """Column -> dtype string from a ``.schema.json``; errors name the file and the problem."""
    fs, target = filesystem(Location.of(path, storage_options), path)
    try:
        with fs.open(target, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise InvalidInput(
            f"schema file {path} does not exist; write it with write_metadata()"
        ) from None
    try:
        doc = msgspec.json.decode(raw, type=_SchemaFile)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"schema file {path} is not a lakeledger schema: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"schema file {path} is not valid JSON: {exc}") from None
    return {c.name: c.dtype for c in doc.columns}


class _Column(msgspec.Struct):
    name: str
    dtype: str


class _SchemaFile(msgspec.Struct):
    columns: list[_Column]


def validate_schema_file(
    data: Any,
    path: str,
    *,
    strict: bool = True,
    severity: Severity = "error",
    storage_options: dict[str, str] | None = None,
) -> CheckResult:
    """Check ``data`` against a ``.schema.json`` (names and exact dtypes; no data is read)."""
    result = Schema(read_schema_file(path, storage_options), strict=strict, severity=severity).run(
        data
    )
    result.details = {**result.details, "schema_file": path}
    return result
