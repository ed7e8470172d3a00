"""Columns a tabular source brings that the record schema lacks: never dropped silently.

``schema_mode = "evolve"`` (the default) adds each new column to the source's schema as nullable
text; the runner records the schema bronze then holds as a new ``dataset.declared`` before the
batch lands, and later runs start from that declaration. ``"freeze"`` keeps the schema: a row
holding a value in an unknown column is quarantined, naming the column.
"""

from __future__ import annotations

import polars as pl
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW, Column, RecordSchema
from lakeledger.store.schema import DatasetSchema

NEW_KIND = "str"
# what the declared (bronze) schema holds besides record columns
LINEAGE = {"_run_id", "_batch", "_ingested_at", "ingest_date", ORIGIN, ROW}
_KINDS = {
    "string": "str",
    "int64": "int",
    "float64": "float",
    "bool": "bool",
    "date": "date",
    "timestamp[us,UTC]": "datetime",
}


def unknown_columns(frame: pl.DataFrame, schema: RecordSchema) -> list[str]:
    return [c for c in frame.columns if c not in schema.names and c not in (ORIGIN, ROW)]


def evolved(schema: RecordSchema, new: list[str]) -> RecordSchema:
    """``schema`` plus ``new`` columns, nullable text (a CSV cell is text until told otherwise)."""
    columns = [*schema.columns, *(Column(n, NEW_KIND, True) for n in new)]  # type: ignore[arg-type]
    return RecordSchema.from_spec({c.name: c.kind + ("?" if c.nullable else "") for c in columns})


def restored(schema: RecordSchema, declared: DatasetSchema | None, partition_by: list[str]) -> RecordSchema:
    """The record schema with the columns earlier runs added (from the dataset's declaration)."""
    if declared is None:
        return schema
    skip = LINEAGE | set(partition_by) | set(schema.names)
    added = [c for c in declared.columns if c.name not in skip]
    if not added:
        return schema
    spec = schema.describe()
    spec.update({c.name: _KINDS.get(c.type, NEW_KIND) + "?" for c in added})
    return RecordSchema.from_spec(spec)


def frozen(frame: pl.DataFrame, new: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows without a value in any ``new`` column, minus those columns; the other rows as
    quarantine rows naming the first such column)."""
    has = [pl.col(c).is_not_null() & (pl.col(c).cast(pl.String) != "") for c in new]
    hit = pl.any_horizontal(has)
    keep = [c for c in (ORIGIN, ROW) if c in frame.columns]
    text = [c for c in frame.columns if c not in keep]
    reason = pl.coalesce(
        pl.when(h).then(pl.lit(f"column {c!r} is not in the schema (schema_mode = \"freeze\")"))
        for h, c in zip(has, new, strict=True)
    )
    bad = frame.filter(hit).select(
        pl.struct(text).struct.json_encode().alias(RAW), reason.alias(REASON), *keep
    )
    return frame.filter(~hit).drop(new), bad
