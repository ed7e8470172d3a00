"""Rejected records: ``<root>/quarantine``, one Delta table for every source.

Each row keeps the source, the raw record as JSON text, the reason, and where it came from
(file and row, or page URL and index). A batch's rows are committed with the app transaction
``(lakeledger.quarantine/<source>, batch)`` so a resumed run never quarantines a record twice.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.store.errors import StorageError
from lakeledger.store.location import Location

APP_PREFIX = "lakeledger.quarantine/"
COLUMNS = ["source", "run_id", "batch", "quarantined_at", "origin", "row", "reason", "raw"]


class Quarantine:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.uri = location.join("quarantine")

    def committed_batch(self, source: str) -> int:
        try:
            table = DeltaTable(self.uri, storage_options=self.location.options)
        except TableNotFoundError:
            return 0
        return table.transaction_version(APP_PREFIX + source) or 0

    def write(self, bad: pl.DataFrame, *, source: str, batch: int, run_id: str, at: datetime) -> int:
        frame = bad.select(
            pl.lit(source).alias("source"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(batch, pl.Int64).alias("batch"),
            pl.lit(at, pl.Datetime("us", "UTC")).alias("quarantined_at"),
            (pl.col(ORIGIN) if ORIGIN in bad.columns else pl.lit(None, pl.String)).alias("origin"),
            (pl.col(ROW).cast(pl.Int64) if ROW in bad.columns else pl.lit(None, pl.Int64)).alias("row"),
            pl.col(REASON).alias("reason"),
            pl.col(RAW).alias("raw"),
        )
        try:
            write_deltalake(
                self.uri,
                frame.to_arrow(),
                mode="append",
                partition_by=["source"],
                commit_properties=CommitProperties(
                    app_transactions=[Transaction(APP_PREFIX + source, batch)]
                ),
                storage_options=self.location.options,
            )
        except Exception as exc:  # noqa: BLE001 - wrapped with secrets removed
            raise StorageError(
                f"cannot write the quarantine table: {self.location.redact(str(exc))}"
            ) from None
        return frame.height

    def scan(self, source: str | None = None) -> pl.LazyFrame:
        """Quarantined rows (empty when nothing was ever rejected)."""
        if not DeltaTable.is_deltatable(self.uri, storage_options=self.location.options):
            return pl.LazyFrame(schema={c: pl.String for c in COLUMNS})  # scan_delta fails late
        try:
            frame = pl.scan_delta(self.uri, storage_options=self.location.options)
        except Exception:  # noqa: BLE001 - no table yet: nothing quarantined
            return pl.LazyFrame(schema={c: pl.String for c in COLUMNS})
        return frame.filter(pl.col("source") == source) if source else frame
