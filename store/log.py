"""The event log: one append-only Delta table, ``<root>/events``.

Every commit is made at exactly ``loaded_version + 1`` and carries the app transaction
``SEQ_APP_ID``; delta-rs is told not to rebase (``max_commit_retries=0``), so when another process
won the race the commit fails and we rebuild it on the new snapshot. That one rule gives:
- exact version stamps in the rows (``codec.py``), so reads never need the Delta log's history;
- a global optimistic order: any check made on the loaded snapshot (next model version, expected
  stage, duplicate event ids) still holds when the commit lands, with no lock server.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fsspec
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from . import codec, datafile, maintenance
from .datafile import SEQ_APP_ID, STATS_COLUMNS
from .errors import LedgerError, NotInitialised, StorageError
from .events import Event
from .identity import Writer
from .ids import new_event_id
from .location import Location
from .query import dedupe as deduplicate
from .storage import filesystem

log = logging.getLogger("lakeledger.store")

# A snapshot older than this is refreshed before committing on it: together with the log
# margin kept by maintenance, a writer can never re-create a cleaned-up version file.
MAX_SNAPSHOT_AGE_S = 0.25


@dataclass(frozen=True)
class LogSettings:
    """Log management. Defaults keep commit latency flat over years of commits."""

    checkpoint_interval: int = 100
    compact_every: int = 100  # versions between automatic compactions
    compact_target_bytes: int = 16 * 1024 * 1024
    keep_log_versions: int = 100  # Delta log json kept behind the latest checkpoint
    vacuum_every: int = 1000  # versions between vacuums of compacted/orphaned files
    vacuum_retention_hours: int = 1
    commit_deadline_s: float = 120.0
    auto_maintain: bool = True

    def __post_init__(self) -> None:
        if self.keep_log_versions < self.checkpoint_interval:
            raise ValueError(
                "keep_log_versions must be >= checkpoint_interval: a writer between two "
                "checkpoints must find every json since the older one"
            )

    def table_config(self) -> dict[str, str]:
        return {
            "delta.appendOnly": "true",
            "delta.checkpointInterval": str(self.checkpoint_interval),
            # lakeledger cleans the log itself, by count (maintenance.py), not by age.
            "delta.enableExpiredLogCleanup": "false",
            "delta.deletedFileRetentionDuration": f"interval {self.vacuum_retention_hours} hours",
            # stats only where reads filter; min/max of whole payloads would bloat the log
            "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS),
        }


@dataclass
class Snapshot:
    """The table state a commit is prepared on; reads here are consistent with the commit."""

    table: DeltaTable
    next_version: int
    _frame: pl.LazyFrame | None = field(default=None, repr=False)

    def scan(self) -> pl.LazyFrame:
        if self.table.version() == 0:
            return empty_frame()
        if self._frame is None:
            self._frame = pl.scan_delta(self.table)
        return self._frame


Prepare = Callable[[Snapshot], Sequence[Event]]


@dataclass(frozen=True)
class Committed:
    version: int | None  # None when every event was already in the log
    events: tuple[Event, ...]
    skipped: tuple[str, ...] = ()  # event ids already present (idempotent retries)


class EventLog:
    """Appends to and scans the Delta event table. One open ``DeltaTable`` per writer."""

    def __init__(self, location: Location, settings: LogSettings | None = None) -> None:
        self.location = location
        self.settings = settings or LogSettings()
        self.uri = location.join("events")
        self.writer = Writer.current()
        self._table: DeltaTable | None = None
        self._loaded_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, location: Location, settings: LogSettings | None = None) -> EventLog:
        self = cls(location, settings)
        if DeltaTable.is_deltatable(self.uri, storage_options=location.options):
            return self
        try:
            DeltaTable.create(
                self.uri,
                codec.SCHEMA,
                mode="ignore",
                name="lakeledger_events",
                description="lakeledger event log (append-only)",
                configuration=self.settings.table_config(),
                storage_options=location.options,
            )
        except Exception as exc:  # noqa: BLE001 - storage errors are wrapped, secrets removed
            raise StorageError(
                location.redact(f"cannot create the event log at {self.uri}: {exc}")
            ) from None
        return self

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(self.uri, storage_options=self.location.options)

    @property
    def table(self) -> DeltaTable:
        if self._table is None:
            self._table = self._open()
            self._loaded_at = time.monotonic()
        return self._table

    def _open(self) -> DeltaTable:
        """Load the latest snapshot; retried, as log cleanup by another writer can remove the
        checkpoint a load started from (it then finds the next one)."""
        for attempt in range(8):
            try:
                return DeltaTable(self.uri, storage_options=self.location.options)
            except TableNotFoundError:
                if not self.exists():
                    raise NotInitialised(
                        f"no lakeledger at {self.location.root}: run `lakeledger init` "
                        "(or Ledger.open(..., create=True)) first"
                    ) from None
                error: Exception = LookupError("table not found during log cleanup")
            except Exception as exc:  # noqa: BLE001 - transient while another writer cleans the log
                error = exc
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise StorageError(
            self.location.redact(f"cannot load the event log at {self.uri}: {error}")
        )

    def refresh(self) -> DeltaTable:
        """Bring the writer's snapshot up to date.

        A snapshot older than the newest checkpoint is reloaded from that checkpoint, never
        updated incrementally: the json after it may have been cleaned up, and delta-rs then
        applies later commits over the gap without noticing (seen here: a stale writer's
        snapshot still listed compacted-away files, and its compaction duplicated their rows).
        """
        table = self.table
        try:
            if table.version() < maintenance.last_checkpoint(self):
                raise LookupError("snapshot older than the newest checkpoint")
            table.update_incremental()
        except Exception:  # noqa: BLE001 - any failure: reload from the checkpoint
            self._table = None
            table = self.table
        self._loaded_at = time.monotonic()
        return table

    def version(self) -> int:
        return self.refresh().version()

    # -- writing ---------------------------------------------------------------------------
    def commit(self, prepare: Prepare) -> Committed:
        """Commit the events ``prepare`` returns for the current snapshot, retrying on conflict.

        ``prepare`` runs again on every attempt, on the snapshot that attempt commits on, so
        whatever it checked is still true when the commit lands.
        """
        deadline = time.monotonic() + self.settings.commit_deadline_s
        batch_id = new_event_id()
        attempt = 0
        while True:
            table = self.table
            if time.monotonic() - self._loaded_at > MAX_SNAPSHOT_AGE_S:
                table = self.refresh()
            started = time.monotonic()
            version = table.version() + 1
            events = tuple(prepare(Snapshot(table, version)))
            if not events:
                return Committed(None, ())
            data = codec.encode(
                events,
                version=version,
                recorded_at=datetime.now(UTC),
                writer=self.writer,
                batch_id=batch_id,
            )
            try:
                self._write(table, data, version, batch_id, len(events))
            except CommitFailedError:
                conflict = True  # another process committed this version first
            except LedgerError:
                raise
            except Exception as exc:  # noqa: BLE001 - ambiguous: did it land or not?
                landed = self._landed(batch_id, deadline, exc)
                if landed is not None:
                    return self._done(landed, events)
                log.warning("append attempt failed, retrying: %s", self.location.redact(str(exc)))
                conflict = True
            else:
                conflict = False
                if (
                    time.monotonic() - started > MAX_SNAPSHOT_AGE_S
                    and maintenance.committed_behind_checkpoint(self, version)
                ):
                    log.warning(
                        "commit %d landed behind a newer checkpoint; committing again", version
                    )
                    conflict = True
            if not conflict:
                return self._done(version, events)
            if time.monotonic() > deadline:
                raise StorageError(
                    f"could not append to {self.uri} within "
                    f"{self.settings.commit_deadline_s:.0f}s: "
                    f"{attempt + 1} attempts lost to concurrent writers; retry later or raise "
                    "LogSettings.commit_deadline_s"
                )
            attempt += 1
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
            self.refresh()

    def _write(self, table: DeltaTable, data: pa.Table, version: int, batch_id: str, n: int) -> None:
        """Write the data file, then commit it at exactly ``version`` (never rebased)."""
        fs, table_path = self.fs
        add = datafile.write(fs, table_path, data)
        try:
            table.create_write_transaction(
                [add],
                "append",
                codec.SCHEMA,
                commit_properties=CommitProperties(
                    max_commit_retries=0,
                    app_transactions=[Transaction(SEQ_APP_ID, version)],
                    custom_metadata={
                        "lakeledger.batch": batch_id,
                        "lakeledger.events": str(n),
                        "lakeledger.writer": f"{self.writer.user}@{self.writer.host}:{self.writer.pid}",
                    },
                ),
                post_commithook_properties=PostCommitHookProperties(
                    create_checkpoint=True, cleanup_expired_logs=False
                ),
            )
        except CommitFailedError:
            fs.rm(f"{table_path}/{add.path}")  # lost the race: nothing references the file
            raise
        table.update_incremental()  # the commit does not advance the in-memory snapshot
        self._loaded_at = time.monotonic()

    @functools.cached_property
    def fs(self) -> tuple[fsspec.AbstractFileSystem, str]:
        """The table's filesystem and its path there (data files, ``_delta_log``)."""
        return filesystem(self.location, self.uri)

    def _done(self, version: int, events: tuple[Event, ...]) -> Committed:
        if self.settings.auto_maintain:
            maintenance.after_commit(self, version)
        return Committed(version, events)

    def _landed(self, batch_id: str, deadline: float, cause: Exception) -> int | None:
        """After an ambiguous failure: the version our batch landed at, or None if it did not.

        Never guesses: committing again without knowing would duplicate the batch, so the
        question is asked until storage answers or the deadline passes.
        """
        while True:
            try:
                table = self.refresh()
                if table.version() == 0:
                    return None  # nothing was ever committed
                found = (
                    pl.scan_delta(table, storage_options=self.location.options)
                    .filter(pl.col("batch_id") == batch_id)
                    .select("version")
                    .head(1)
                    .collect()
                )
                return int(found["version"][0]) if found.height else None
            except Exception as exc:  # noqa: BLE001 - storage unreachable: ask again
                if time.monotonic() > deadline:
                    raise StorageError(
                        self.location.redact(
                            f"append to {self.uri} failed ({cause}) and whether it landed cannot be "
                            f"told ({exc}); check with `lakeledger events` before retrying"
                        )
                    ) from None
                time.sleep(0.2)

    # -- reading ---------------------------------------------------------------------------
    def scan(self, *, dedupe: bool = True) -> pl.LazyFrame:
        """All rows of the log on the latest snapshot.

        lakeledger's own writers never commit an id twice (``Ledger.append`` checks inside the
        commit); ``dedupe`` also hides duplicates a foreign Delta writer may have added,
        keeping the earliest version of each id.
        """
        table = self.refresh()
        if table.version() == 0:
            return empty_frame()
        frame = pl.scan_delta(table, storage_options=self.location.options)
        return deduplicate(frame) if dedupe else frame


def empty_frame() -> pl.LazyFrame:
    return pl.LazyFrame(schema=pl.from_arrow(codec.SCHEMA.empty_table()).schema)
