"""The bronze table of one source: ``<root>/bronze/<source>``, partitioned by ``ingest_date``.

Every batch commit carries the Delta app transaction ``(lakeledger.ingest/<source>, batch)`` and,
in its commit info, the cursor reached, so a process killed between the commit and its
``ingest.checkpoint`` event can be resumed: the next run sees the table ahead of the ledger and
writes the missing checkpoint from the commit itself instead of ingesting the batch again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa
from lakeledger.ingest.extract.files import commit_files, parts_of
from lakeledger.store.delta import (
    AlreadyCommitted,
    CommitConflict,
    DeltaTable,
    StorageConfigError,
    TablePath,
    add_actions,
)
from lakeledger.store.errors import ConcurrencyError, InvalidInput, LedgerError, StorageError
from lakeledger.store.location import Location
from lakeledger.store.partitions import partition_label

APP_PREFIX = "lakeledger.ingest/"
COMMIT_ATTEMPTS = 20
META = {"run_id": "_run_id", "batch": "_batch", "ingested_at": "_ingested_at"}


@dataclass(frozen=True)
class Written:
    version: int
    rows: int
    partitions: list[str]  # partition labels ("2026-11-25", or "k=v/k2=v2")


class Bronze:
    def __init__(self, location: Location, source: str, partition_by: list[str]) -> None:
        self.location = location
        self.source = source
        self.dataset = f"bronze/{source}"
        self.uri = location.join("bronze", source)
        self.app_id = APP_PREFIX + source
        self.partition_by = partition_by
        self._values: dict[str, dict[str, str]] = {}  # label -> the partition values it names
        self.files = TablePath(self.uri, location.options, location.redact)

    def table(self) -> DeltaTable | None:
        return self.files.load_or_none()

    def committed_batch(self) -> int:
        """The last batch number committed to the table (0: none)."""
        table = self.table()
        return (table.transaction_version(self.app_id) or 0) if table is not None else 0

    def commit_info(self, batch: int) -> dict[str, Any] | None:
        """Cursor and partitions recorded by the commit of ``batch``, from the Delta log."""
        table = self.table()
        if table is None:
            return None
        for entry in table.history(200):
            if entry.get("lakeledger.source") == self.source and entry.get("lakeledger.batch") == str(batch):
                return {
                    "cursor": msgspec.json.decode(entry["lakeledger.cursor"]),
                    "partitions": msgspec.json.decode(entry.get("lakeledger.partitions", "[]")),
                    "run_id": entry.get("lakeledger.run"),
                }
        return None

    def prepare(self, frame: pl.DataFrame, *, run_id: str, batch: int, at: datetime) -> pl.DataFrame:
        return frame.with_columns(
            pl.lit(run_id).alias(META["run_id"]),
            pl.lit(batch, pl.Int64).alias(META["batch"]),
            pl.lit(at, pl.Datetime("us", "UTC")).alias(META["ingested_at"]),
            pl.lit(at.date(), pl.Date).alias("ingest_date"),
        )

    def write(
        self, frames: list[pl.DataFrame], *, batch: int, cursor: Any, run_id: str, overwrite: bool = False
    ) -> Written:
        """Commit ``frames`` (chunks of one schema) as batch ``batch``, unless that batch is
        already in the table. The chunks are streamed to the writer, never concatenated.

        The commit is made exactly on the snapshot checked (no rebase), so two processes
        ingesting the same source cannot both commit one batch: the loser gets
        ``ConcurrencyError``.
        """
        partitions = self.labels(frames)
        metadata = {
            "lakeledger.source": self.source,
            "lakeledger.batch": str(batch),
            "lakeledger.run": run_id,
            "lakeledger.cursor": msgspec.json.encode(cursor).decode(),
            "lakeledger.partitions": msgspec.json.encode(partitions).decode(),
        }
        schema = frames[0].head(0).to_arrow().schema
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                table = None if overwrite else self.table()
                if table is None and not overwrite:  # created empty: its first batch is encoded by polars too
                    self.files.create(schema, name=self.dataset, description=f"source {self.source}",
                                      configuration={}, partition_by=self.partition_by)
                    table = self.table()
                if table is not None and (parts := parts_of(table, frames, self.partition_by)) is not None:
                    version = commit_files(self.files, table, parts, partition_by=self.partition_by,
                                           app_id=self.app_id, txn_version=batch, metadata=metadata)
                    break
                version = self.files.write(
                    pa.RecordBatchReader.from_batches(schema, _arrow(frames)),
                    table=table,
                    mode="overwrite" if overwrite else "append",
                    app_id=self.app_id,
                    txn_version=batch,
                    partition_by=self.partition_by,
                    # a source's schema may evolve (new columns): append merges them in
                    schema_mode="overwrite" if overwrite else "merge",
                    metadata=metadata,
                )
                break
            except AlreadyCommitted:
                raise ConcurrencyError(
                    f"{self.dataset} already holds batch {batch}: another `ingest run` of source "
                    f"{self.source!r} is running or just ran; let it finish, then run again"
                ) from None
            except CommitConflict:
                time.sleep(min(0.5, 0.01 * 2**attempt))  # someone else committed: check again
            except LedgerError as exc:  # any other write failure: typed, secrets removed
                raise self._error(exc) from None
        else:
            raise StorageError(
                f"cannot commit to {self.dataset}: {COMMIT_ATTEMPTS} attempts lost to concurrent writers"
            )
        return Written(version, sum(f.height for f in frames), partitions)

    def _error(self, exc: LedgerError) -> LedgerError:
        if isinstance(exc, StorageConfigError):
            return exc  # names the configuration to fix; never retried
        text = self.location.redact(str(exc))
        if "schema" in text.lower():
            return InvalidInput(
                f"{self.dataset}: the records no longer match the table's schema ({text}); "
                f"run `lakeledger ingest run --full-refresh --source {self.source}` to rebuild it"
            )
        return StorageError(f"cannot write {self.dataset}: {text}")

    def labels(self, frames: list[pl.DataFrame]) -> list[str]:
        values = pl.concat([f.select(self.partition_by).unique() for f in frames])
        keys = values.unique().sort(self.partition_by).rows()
        return [self.label(dict(zip(self.partition_by, k, strict=True))) for k in keys]

    def label(self, values: dict[str, Any]) -> str:
        """The recorded partition: the store's codec, as the watcher records the same path."""
        text = {k: str(v) for k, v in values.items()}
        found = partition_label(list(text.items()))
        self._values[found] = text
        return found

    def partition_stats(self, labels: list[str]) -> dict[str, tuple[int, int]]:
        """Rows and bytes now in each partition, from the Delta log's file statistics."""
        table = self.table()
        if table is None:
            return {}
        actions = add_actions(table)
        columns = [f"partition.{k}" for k in self.partition_by]
        grouped = actions.group_by(columns).agg(pl.col("num_records").sum(), pl.col("size_bytes").sum())
        stats: dict[str, tuple[int, int]] = {}
        for row in grouped.iter_rows(named=True):
            label = self.label({k: row[f"partition.{k}"] for k in self.partition_by})
            if label in labels:
                stats[label] = (int(row["num_records"] or 0), int(row["size_bytes"] or 0))
        return stats

    def uri_of(self, label: str) -> str:
        """The partition's directory: the key=value pairs the label was made from."""
        values = self._values.get(label)
        if values is not None:
            return f"{self.dataset}/" + "/".join(f"{k}={v}" for k, v in values.items())
        if len(self.partition_by) == 1:
            return f"{self.dataset}/{self.partition_by[0]}={label}"
        return f"{self.dataset}/{label}"


def _arrow(frames: list[pl.DataFrame]) -> Iterator[pa.RecordBatch]:
    """Each chunk converted when the writer asks for it: one chunk's Arrow copy at a time."""
    for frame in frames:
        yield from frame.to_arrow().to_batches()
