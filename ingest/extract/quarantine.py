"""Rejected records: ``<root>/quarantine``, one Delta table for every source.

Each row keeps the source, the raw record as JSON text, the reason, and where it came from
(file and row, or page URL and index). A record is quarantined once by its identity, whatever
batch it lands in when a run resumes (pages shift at an HTTP ``since`` cursor, SQL row numbers
restart): a source kind says whether its records are known by position (file + row + content:
two equal bad lines of a CSV are two records) or by content alone (a JSON record, a table row).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

import polars as pl
from lakeledger.ingest.extract.files import commit_files, parts_of
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.store.delta import CommitConflict, TablePath
from lakeledger.store.errors import LedgerError, StorageError
from lakeledger.store.location import Location

APP_PREFIX = "lakeledger.quarantine/"
COMMIT_ATTEMPTS = 20
COLUMNS = ["source", "run_id", "batch", "quarantined_at", "origin", "row", "reason", "raw"]
Identity = Literal["position", "content"]
KEY = "_key"


def identity(origin: pl.Expr, row: pl.Expr, raw: pl.Expr, by: Identity) -> pl.Expr:
    """The record's identity as a 64-bit hash (same expression for new rows and stored ones)."""
    parts = [raw] if by == "content" else [origin.fill_null(""), row.cast(pl.String).fill_null(""), raw]
    return pl.concat_str(parts, separator="\x1f").hash(seed=11).alias(KEY)


class Quarantine:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.uri = location.join("quarantine")
        self.files = TablePath(self.uri, location.options, location.redact)

    def committed_batch(self, source: str) -> int:
        table = self.files.load_or_none()
        return (table.transaction_version(APP_PREFIX + source) or 0) if table is not None else 0

    def known(self, source: str, by: Identity) -> pl.Series:
        """Identities of the records of ``source`` already quarantined."""
        rows = self.scan(source).select(identity(pl.col("origin"), pl.col("row"), pl.col("raw"), by))
        return rows.collect().to_series().unique()

    def new(self, bad: pl.DataFrame, known: pl.Series, by: Identity) -> pl.DataFrame:
        """The rows of ``bad`` whose record is not quarantined yet (each once), with ``_key``."""
        origin = pl.col(ORIGIN) if ORIGIN in bad.columns else pl.lit(None, pl.String)
        row = pl.col(ROW) if ROW in bad.columns else pl.lit(None, pl.Int64)
        keyed = bad.with_columns(identity(origin, row, pl.col(RAW), by))
        fresh = keyed.filter(~pl.col(KEY).is_in(known.implode()))
        return fresh.unique(KEY, keep="first", maintain_order=True)

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
                self._write(frame, source, batch)
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

    def _write(self, frame: pl.DataFrame, source: str, batch: int) -> None:
        """Encoded by polars into a table created empty (see files.py); delta-rs' writer for a
        table whose schema is not this one, or a source name a path would have to escape."""
        table = self.files.load_or_none()
        if table is None:
            self.files.create(frame.head(0).to_arrow().schema, name="quarantine",
                              description="rejected records of every source", configuration={},
                              partition_by=["source"])
            table = self.files.load()
        parts = parts_of(table, [frame], ["source"])
        if parts is None:
            self.files.write(frame, table=table, app_id=APP_PREFIX + source, txn_version=batch,
                             partition_by=["source"], check_txn=False)
            return
        # (the app transaction's version may go back on a full refresh: committed regardless)
        commit_files(self.files, table, parts, partition_by=["source"], app_id=APP_PREFIX + source,
                     txn_version=batch, metadata={}, check_txn=False)

    def scan(self, source: str | None = None) -> pl.LazyFrame:
        """Quarantined rows (empty when nothing was ever rejected)."""
        table = self.files.load_or_none()
        if table is None:  # nothing was ever rejected
            return pl.LazyFrame(schema=_EMPTY)
        frame = self.files.scan(table)
        return frame.filter(pl.col("source") == source) if source else frame


_EMPTY = {
    **{c: pl.String for c in COLUMNS},
    "batch": pl.Int64,
    "row": pl.Int64,
    "quarantined_at": pl.Datetime("us", "UTC"),
}
