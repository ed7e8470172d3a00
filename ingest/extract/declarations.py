"""What an ingest declares in the ledger: the bronze dataset with the schema it holds, and the
source's config (secrets masked) once per distinct hash."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from lakeledger.ingest.extract.bronze import Bronze
from lakeledger.ingest.extract.config import LoadedConfig
from lakeledger.ingest.extract.records import ORIGIN, ROW
from lakeledger.ingest.extract.sources import Source
from lakeledger.store import Ledger
from lakeledger.store.events import DatasetDeclared
from lakeledger.store.schema import DatasetSchema


def declare_dataset(ledger: Ledger, bronze: Bronze, source: Source) -> DatasetDeclared:
    """Declare ``bronze/<source>`` once, so coverage views know the dataset and its key."""
    stream = f"dataset/{bronze.dataset}"
    found = [e for e in ledger.read(kind="dataset.declared", stream=stream) if isinstance(e, DatasetDeclared)]
    if found:
        return found[-1]
    return ledger.declare_dataset(
        bronze.dataset, freq="D", partition_key=bronze.partition_by, schema=bronze_schema(bronze, source)
    )


def bronze_schema(bronze: Bronze, source: Source) -> DatasetSchema:
    """What bronze holds for the record schema: records, origin, row and lineage columns."""
    empty = pl.DataFrame(schema={**source.schema.polars_schema, ORIGIN: pl.String(), ROW: pl.Int64()})
    return DatasetSchema.from_polars(bronze.prepare(empty, run_id="", batch=0, at=datetime.now(UTC)))


def with_schema(declared: DatasetDeclared, frame: pl.DataFrame) -> DatasetDeclared | None:
    """The declaration again with the schema bronze really holds (record, lineage and partition
    columns), when that differs from the declared one: a watcher judges files by it."""
    schema = DatasetSchema.from_polars(frame)
    if declared.schema is not None and declared.schema.hash == schema.hash:
        return None
    kept = {f: getattr(declared, f) for f in ("dataset", "freq", "start", "end", "partition_key")}
    return DatasetDeclared(**kept, due_after=declared.due_after, schema=schema)


def declare_config(ledger: Ledger, loaded: LoadedConfig, name: str) -> str:
    """Record the source's config (secrets masked, ``${VAR}`` kept) once per distinct hash."""
    digest = loaded.hash_of(name)
    found = (
        ledger.events(kind="config.declared", stream=f"config/ingest/{name}")
        .filter(pl.col("payload").str.contains(digest, literal=True))
        .select(pl.len())
        .collect()
        .item()
    )
    if not found:
        ledger.declare_config(f"ingest/{name}", loaded.recorded(name))
    return digest
