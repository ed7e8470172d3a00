"""The event log: one append-only Delta table, ``<root>/events``.

Every commit is made at exactly ``known_version + 1`` and carries the app transaction
``SEQ_APP_ID``; it is never rebased (``delta.TablePath.commit``), so when another process won
the race the commit fails and we rebuild it on the new snapshot. That one rule gives:
- exact version stamps in the rows (``codec.py``), so reads never need the Delta log's history;
- a global optimistic order: any check made on the loaded snapshot (next model version, expected
  stage, duplicate event ids) still holds when the commit lands, with no lock server.

A writer knows its own commit landed at exactly that version, so it does not re-read the log
after committing: the snapshot is brought up to date only when a ``prepare`` needs it (the
commit rules' state, ``writerstate.py``, is advanced by our own commits without it), after a
conflict, or when a checkpoint newer than what we know appeared (others went far ahead).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import fsspec
import polars as pl

from . import codec, datafile, history, maintenance
from .datafile import SEQ_APP_ID
from .delta import Add, CommitConflict, DeltaTable, TableMissing, TablePath
from .errors import LedgerError, NotInitialised, StorageError
from .events import Event
from .identity import Writer
from .ids import new_event_id
from .location import Location
from .logsettings import LogSettings
from .query import dedupe as deduplicate
from .snapshot import Prepare, Snapshot, empty_frame
from .writerstate import WriterState

__all__ = ["Committed", "EventLog", "LogSettings", "Prepare", "Snapshot", "empty_frame"]

log = logging.getLogger("lakeledger.store")

TABLE_NAME = history.TABLE_NAME


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
        self.files = TablePath(self.uri, location.options, location.redact)
        self.writer = Writer.current()
        self._table: DeltaTable | None = None
        self.known_version = -1  # newest version known to have landed (ours included)
        self.state = WriterState(self.files)  # what the commit rules read, advanced per commit
        self.maintainer = maintenance.Maintainer(self)  # runs after the append returned
        self._verified = -1  # commit files up to this version were found whole
        self._committing = threading.Lock()
        self._appends = threading.Condition()
        self._appended = 0  # commits finished by this writer (``yield_to_appends`` waits on it)
        # what background work on this log calls between its steps (``Maintainer`` sets it)
        self.pace: Callable[[], None] = _no_pace

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, location: Location, settings: LogSettings | None = None) -> EventLog:
        self = cls(location, settings)
        if not self.files.exists():
            self.files.create(
                codec.SCHEMA,
                name=TABLE_NAME,
                description="lakeledger event log (append-only)",
                configuration=self.settings.table_config(),
            )
        self.table  # noqa: B018 - loads and checks that the table is ours
        return self

    def exists(self) -> bool:
        return self.files.exists()

    @property
    def fs(self) -> tuple[fsspec.AbstractFileSystem, str]:
        """The table's filesystem and its path there (for ``health.py``'s file checks)."""
        return self.files.fs, self.files.path

    @property
    def table(self) -> DeltaTable:
        if self._table is None:
            self._table = self._open()
            self.known_version = max(self.known_version, self._table.version())
        return self._table

    def _open(self) -> DeltaTable:
        """Load the latest snapshot; retried, as log cleanup by another writer can remove the
        checkpoint or json a load started from (it then starts again from the newest
        checkpoint). Retried until the commit deadline, not a fixed number of times: on a
        loaded machine one load can span several checkpoints, so a few quick attempts could
        all lose to cleanup and surface a transient error to the caller."""
        error: LedgerError = StorageError("not loaded")
        deadline = time.monotonic() + self.settings.commit_deadline_s
        attempt = 0
        while attempt < 8 or time.monotonic() < deadline:
            attempt += 1
            try:
                table = self.files.load()
            except TableMissing:
                if not self.exists():
                    raise NotInitialised(
                        f"no lakeledger at {self.location.root}: run `lakeledger init` "
                        "(or Ledger.open(..., create=True)) first"
                    ) from None
                error = StorageError("table not found during log cleanup")
            except LedgerError as exc:
                if not getattr(exc, "transient", True):
                    raise
                error = exc  # transient while another writer cleans the log
            else:
                self.files.check_identity(table, TABLE_NAME, codec.SCHEMA)
                return table
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
        raise StorageError(self.location.redact(f"cannot load the event log at {self.uri}: {error}"))

    def refresh(self) -> DeltaTable:
        """Bring the writer's snapshot up to date.

        A snapshot older than the newest checkpoint is reloaded from that checkpoint, never
        updated incrementally: the json after it may have been cleaned up, and delta-rs then
        applies later commits over the gap without noticing (seen here: a stale writer's
        snapshot still listed compacted-away files, and its compaction duplicated their rows).
        """
        table = self.table
        before = table.version()
        try:
            checkpoint = self.files.last_checkpoint()
            if before < checkpoint:
                raise LookupError("snapshot older than the newest checkpoint")
            table.update_incremental()
            if self.files.last_checkpoint() != checkpoint:
                # cleanup may have run during the update (it only deletes behind a newer
                # checkpoint): the update may have skipped deleted commits, so reload
                raise LookupError("a checkpoint appeared during the update")
            self._verify(table)
        except LedgerError as exc:
            self._table = None
            if not getattr(exc, "transient", True):
                raise
            table = self.table
        except Exception:  # noqa: BLE001 - any failure: reload from the checkpoint
            self._table = None
            table = self.table
        self._verify(table)
        self.known_version = max(self.known_version, table.version())
        return table

    def _verify(self, table: DeltaTable) -> None:
        """Every commit file the snapshot was built from since the last check is whole.

        Checked before any read or write uses the snapshot (not on open, so that ``doctor``
        can open a damaged log and say what is wrong); ``DamagedLog`` names the file and fix.
        """
        if self._verified >= table.version():
            return
        first = self._verified + 1 if self._verified >= 0 else self.files.last_checkpoint() + 1
        try:
            self.files.verify(first, table.version())
        except LedgerError:
            self._table = None  # every later call checks again: never skipped
            raise
        self._verified = table.version()

    def current(self, at_least: int) -> DeltaTable:
        """The snapshot, refreshed if it does not yet include version ``at_least``."""
        table = self.table
        return table if table.version() >= at_least else self.refresh()

    def version(self) -> int:
        return self.refresh().version()

    # -- writing ---------------------------------------------------------------------------
    def commit(self, prepare: Prepare, *, durable: bool = True) -> Committed:
        """Commit the events ``prepare`` returns for the current snapshot, retrying on conflict.

        ``prepare`` runs again on every attempt, on the snapshot that attempt commits on, so
        whatever it checked is still true when the commit lands.
        The last fsync (the log directory's, making the published commit durable) runs after
        the lock is released, so another thread's commit prepares meanwhile. ``durable=False``
        leaves it to the caller: call ``sync()`` before telling anyone the events are stored
        (a group committer prepares its next tick while this one's fsync runs).
        """
        with self._committing:  # one commit at a time per log: the rules' state is shared
            try:
                result = self._commit(prepare)
            finally:
                with self._appends:
                    self._appended += 1
                    self._appends.notify_all()
        if durable and result.version is not None:
            self.sync()
        return result

    def yield_to_appends(self, timeout: float = 0.05) -> None:
        """Called by background work on this log (maintenance) between its steps: while an
        append is under way, wait until it ends (at most ``timeout``).

        The maintenance thread shares the GIL with the appender: when it runs Python (or a
        library call holding the GIL) the appender waits for it at each of its many GIL
        releases (write, fsync, link...), up to the 5 ms switch interval each time. Measured
        (issue 15): the slow appends (4-15x p50) were those overlapping a checkpoint, a log
        cleanup or a compaction. Paced, each append overlaps at most one short step.
        """
        if not self._committing.locked():
            return
        with self._appends:
            seen = self._appended
            self._appends.wait_for(lambda: self._appended != seen, timeout)

    def sync(self) -> None:
        """Make every commit this writer published so far durable (see ``commit``)."""
        self.files.sync_log()

    def _commit(self, prepare: Prepare) -> Committed:
        deadline = time.monotonic() + self.settings.commit_deadline_s
        batch_id = new_event_id()
        attempt = 0
        while True:
            self._verify(self.table)
            if self.files.last_checkpoint() > self.known_version:
                # Others went ahead by a checkpoint: the json after our version may be cleaned up,
                # and committing there would re-create it (issue 11.3), so load first. This
                # replaced a reload whenever the snapshot was 250 ms old: on a 1M-event log that
                # reload took 80 ms and hit one model call in six (the p99, and 12 ms of the p50).
                self.refresh()
            snapshot = Snapshot(self)
            prepared = prepare(snapshot)
            events = prepared if isinstance(prepared, codec.Rows) else tuple(prepared)
            if not len(events):
                return Committed(None, ())
            version = snapshot.next_version
            data = codec.encode(
                events, version=version, recorded_at=datetime.now(UTC), writer=self.writer,
                batch_id=batch_id,
            )
            try:
                add = self._write(data, version, batch_id, len(events))
            except CommitConflict:
                pass  # another process committed this version first
            except LedgerError as exc:
                if not getattr(exc, "transient", True):
                    raise  # configuration, damaged log...: retrying cannot help
                landed = self._landed(batch_id, deadline, exc)  # ambiguous: did it land?
                if landed is not None:
                    return self._done(landed, events)
                log.warning("append attempt failed, retrying: %s: %s", type(exc).__name__,
                            self.location.redact(str(exc)))
            else:
                self.known_version = max(self.known_version, version)
                if not self._maybe_recreated(version):
                    self.state.committed(version, events, add)
                    return self._done(version, events)
                landed = self._landed(batch_id, deadline, None)
                if landed is not None:
                    return self._done(landed, events)
                log.warning("commit %d re-created a cleaned-up version; committing again", version)
            if time.monotonic() > deadline:
                raise StorageError(
                    f"could not append to {self.uri} within "
                    f"{self.settings.commit_deadline_s:.0f}s: "
                    f"{attempt + 1} attempts lost to concurrent writers; retry later or raise "
                    "LogSettings.commit_deadline_s"
                )
            attempt += 1
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
            self.refresh()

    def _write(self, data: object, version: int, batch_id: str, n: int) -> Add:
        """Write the data file, then commit it at exactly ``version`` (never rebased)."""
        add = datafile.write(self.files, data, sync=False)  # type: ignore[arg-type]
        try:
            self.files.commit(
                self.table, version, [add], app_id=SEQ_APP_ID, schema=codec.SCHEMA,
                unsynced=[add.path], sync_log=False,  # the log directory: by ``commit``
                metadata={
                    "lakeledger.batch": batch_id,
                    history.EVENTS_KEY: str(n),
                    "lakeledger.writer": f"{self.writer.user}@{self.writer.host}:{self.writer.pid}",
                    history.SUMMARY_KEY: history.summary(data),  # type: ignore[arg-type]
                },
            )
        except CommitConflict:
            self.files.remove_data(add.path)  # lost the race: nothing references the file
            raise
        return add

    def _maybe_recreated(self, version: int) -> bool:
        """True if our commit might have re-created a version file cleaned up behind a newer
        checkpoint (only possible for a writer stalled for ``keep_log_versions`` commits).

        A checkpoint newer than ``version`` is the only sign (a re-created version is always
        behind one); it is usually just later commits of other writers, so the caller then
        looks the batch up instead of committing again (committing again on the sign alone
        left batches at two versions: issue 11.3). One small file read per append.
        """
        return self.files.last_checkpoint() > version  # the newest checkpoint *file*: never goes back

    def _done(self, version: int, events: tuple[Event, ...] | codec.Rows) -> Committed:
        if self.settings.auto_maintain:
            self.maintainer.submit(version)
        return Committed(version, events if isinstance(events, tuple) else ())

    def _landed(self, batch_id: str, deadline: float, cause: Exception | None) -> int | None:
        """The version our batch landed at, or None if it is not in the table.

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
                terminal = isinstance(exc, LedgerError) and not getattr(exc, "transient", True)
                if terminal or time.monotonic() > deadline:
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


def _no_pace() -> None:
    """Work on a log nobody appends to in this process: nothing to wait for."""

