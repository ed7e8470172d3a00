"""What an ingest declares in the ledger: the bronze dataset with the schema it holds, and the
source's config (secrets masked) once per distinct hash."""

from __future__ import annotations

import polars as pl
from lakeledger.ingest.extract.bronze import Bronze
from lakeledger.ingest.extract.config import LoadedConfig
from lakeledger.ingest.extract.sources import Source
from lakeledger.store import Ledger
from lakeledger.store.events import ConfigDeclared, DatasetDeclared
from lakeledger.store.schema import DatasetSchema


def declaration(ledger: Ledger, bronze: Bronze) -> DatasetDeclared | None:
    """The latest declaration of ``bronze/<source>``, if any."""
    stream = f"dataset/{bronze.dataset}"
    found = [e for e in ledger.read(kind="dataset.declared", stream=stream) if isinstance(e, DatasetDeclared)]
    return found[-1] if found else None


def declare_dataset(ledger: Ledger, bronze: Bronze, source: Source) -> None:
    """Declare ``bronze/<source>`` with the record schema when no batch declared it with what
    bronze holds, so coverage views know the dataset and its key even before any data."""
    if declaration(ledger, bronze) is None:
        ledger.declare_dataset(
            bronze.dataset, freq="D", partition_key=bronze.partition_by, schema=source.schema.describe()
        )


def with_schema(
    declared: DatasetDeclared | None, bronze: Bronze, frame: pl.DataFrame
) -> DatasetDeclared | None:
    """The declaration with the schema bronze really holds (record, lineage and partition
    columns) when that differs from the declared one (a watcher judges files by it). The runner
    commits it before the batch lands, so a schema that evolved is recorded even if the process
    dies right after the bronze commit."""
    schema = DatasetSchema.from_polars(frame)
    if declared is None:
        return DatasetDeclared(
            dataset=bronze.dataset, freq="D", partition_key=bronze.partition_by, schema=schema
        )
    if declared.schema is not None and declared.schema.hash == schema.hash:
        return None
    kept = {f: getattr(declared, f) for f in ("dataset", "freq", "start", "end", "partition_key")}
    return DatasetDeclared(**kept, due_after=declared.due_after, schema=schema)


def declare_config(ledger: Ledger, loaded: LoadedConfig, name: str) -> str:
    """Record the source's config (secrets masked, ``${VAR}`` kept) once per distinct hash."""
    digest = loaded.hash_of(name)
    declared = ledger.read(kind="config.declared", stream=f"config/ingest/{name}")
    if not any(isinstance(e, ConfigDeclared) and e.config_hash == digest for e in declared):
        ledger.declare_config(f"ingest/{name}", loaded.recorded(name))
    return digest
