"""Rejected records: ``<root>/quarantine``, one Delta table for every source.

Each row keeps the source, the raw record as JSON text, the reason, and where it came from
(file and row, or page URL and index). A batch's rows are committed with the app transaction
``(lakeledger.quarantine/<source>, batch)`` so a resumed run never quarantines a record twice.
"""

from __future__ import annotations

import time
from datetime import datetime

import polars as pl
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.store.delta import CommitConflict, TablePath
from lakeledger.store.errors import LedgerError, StorageError
from lakeledger.store.location import Location

APP_PREFIX = "lakeledger.quarantine/"
COMMIT_ATTEMPTS = 20
COLUMNS = ["source", "run_id", "batch", "quarantined_at", "origin", "row", "reason", "raw"]


class Quarantine:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.uri = location.join("quarantine")
        self.files = TablePath(self.uri, location.options, location.redact)

    def committed_batch(self, source: str) -> int:
        table = self.files.load_or_none()
        return (table.transaction_version(APP_PREFIX + source) or 0) if table is not None else 0

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
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                # the runner decides what a resumed run quarantines; the app transaction records it
                self.files.write(frame, app_id=APP_PREFIX + source, txn_version=batch,
                                 partition_by=["source"], check_txn=False)
                break
            except CommitConflict:
                time.sleep(min(0.5, 0.01 * 2**attempt))  # another source's batch landed first
            except LedgerError as exc:
                raise StorageError(f"cannot write the quarantine table: {exc}") from None
        else:
            raise StorageError(
                f"cannot write the quarantine table: {COMMIT_ATTEMPTS} attempts lost to concurrent writers"
            )
        return frame.height

    def scan(self, source: str | None = None) -> pl.LazyFrame:
        """Quarantined rows (empty when nothing was ever rejected)."""
        try:
            frame = pl.scan_delta(self.uri, storage_options=self.location.options)
        except Exception:  # noqa: BLE001 - no table yet: nothing quarantined
            return pl.LazyFrame(schema={c: pl.String for c in COLUMNS})
        return frame.filter(pl.col("source") == source) if source else frame
