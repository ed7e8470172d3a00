"""The Delta tables holding the views' state (``<root>/views/<name>``): what a refresh needs
to know of each (``Look``), and committing a fragment.

An incremental refresh of eight views after 1k events used to spend most of its time on the
tables, not the events: per view, loading the table (a log listing and replay, ~10 ms CPU),
scanning it for the events version it reflects (~8 ms) and committing through
``write_deltalake`` (~12 ms CPU for a 200-row fragment: the commit replays the log again).
So every commit now carries the table's marks in its commit metadata (events version
reflected, fragments, the columns' fingerprint), and on local disk a refresh reads just the
newest commit file and commits a fragment itself: polars writes the Parquet file and
``TablePath.commit`` the commit file (put-if-absent: a concurrent refresher's commit makes
ours fail, never both land), checkpointed every ``CHECKPOINT_EVERY`` versions. Neither is
fsynced (as ``write_deltalake`` does not): a view is derived, and four fsyncs per view per
refresh were 8 ms of waiting each on a busy disk. A table whose
newest commit lacks the marks (written by an older lakeledger or by hand), object stores and
whole-state writes (rebuilds, compaction) go through delta-rs as before.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from lakeledger.store import Ledger
from lakeledger.store.delta import Add, CommitConflict, DeltaTable, TablePath
from lakeledger.store.deltalog import LogFiles, LogUnreadable
from lakeledger.store.errors import LedgerError

log = logging.getLogger("lakeledger.projections")

THROUGH = "lakeledger.through"
FRAGMENTS = "lakeledger.fragments"
SHAPE = "lakeledger.shape"
VIEW_TABLE_CONFIG: dict[str, str | None] = {
    "delta.checkpointInterval": "20",
    "delta.logRetentionDuration": "interval 1 hours",
}
CHECKPOINT_EVERY = 20  # as ``delta.checkpointInterval`` above, for the commits written here
APP_ID = "lakeledger.view"  # app transaction of fragment commits (its version: the commit's own)


@dataclass(frozen=True)
class Look:
    """A view table as a refresh finds it."""

    version: int  # newest commit; -1: no table yet
    through: int  # events version the stored state reflects (0: none)
    fragments: int
    shape: str | None  # fingerprint of the stored columns (None: unknown, see ``columns``)
    table: DeltaTable | None = None  # loaded only when the newest commit did not say enough

    def columns(self) -> set[str] | None:
        return {f.name for f in self.table.schema().fields} if self.table is not None else None


def table_uri(ledger: Ledger, name: str) -> str:
    return ledger.location.join("views", name)


def files(ledger: Ledger, name: str) -> TablePath:
    return TablePath(table_uri(ledger, name), ledger.location.options, ledger.location.redact)


def look(ledger: Ledger, name: str) -> Look:
    """The view table's newest version and marks: from its newest commit file alone on local
    disk when that commit carries them, else from the loaded table."""
    path = files(ledger, name)
    quick = _from_newest_commit(path) if path.local else None
    if quick is not None:
        return quick
    table = path.load_or_none()
    if table is None:
        return Look(-1, 0, 0, None)
    through, fragments = marks(ledger, table)
    return Look(table.version(), through, fragments, None, table)


def _from_newest_commit(path: TablePath) -> Look | None:
    """The ``Look`` from the newest commit file on local disk; None: not known that way (no
    marks in it, or the log cannot be read as expected: the table load then says why)."""
    logs = LogFiles(path.uri)
    try:
        listing = logs.listing()
        if listing is None:
            return Look(-1, 0, 0, None)
        if not listing.sizes:
            return None
        version = max(listing.sizes)
        info = next((a["commitInfo"] for a in logs.actions(version) if "commitInfo" in a), {})
    except (OSError, LogUnreadable):
        return None
    if THROUGH in info and FRAGMENTS in info and SHAPE in info:
        return Look(version, int(info[THROUGH]), int(info[FRAGMENTS]), str(info[SHAPE]))
    return None


def marks(ledger: Ledger, table: DeltaTable) -> tuple[int, int]:
    """(events version the stored view reflects, number of fragments) of a loaded table."""
    newest = table.history(1)
    info = newest[0] if newest else {}
    if THROUGH in info and FRAGMENTS in info:
        return int(info[THROUGH]), int(info[FRAGMENTS])
    through, fragments = (  # written by an older lakeledger (or by hand): ask the data
        pl.scan_delta(table, storage_options=ledger.location.options)
        .select(pl.col("_through").max().alias("through"), pl.col("_through").n_unique().alias("n"))
        .collect()
        .row(0)
    )
    return int(through or 0), int(fragments or 0)


def write(
    ledger: Ledger,
    name: str,
    table: DeltaTable | None,
    rows: pl.DataFrame,
    *,
    overwrite: bool,
    fragments: int,
    shape: str,
) -> None:
    """Commit ``rows`` through delta-rs (a whole state when ``overwrite``, else a fragment);
    ``fragments``: how many the table holds after this commit, ``shape``: its columns'
    fingerprint."""
    files(ledger, name).write(
        rows,
        table=table,
        mode="overwrite" if overwrite else "append",
        schema_mode="overwrite" if overwrite else None,
        metadata=_marks_of(rows, fragments, shape),
        # A view is rebuildable from events: its own Delta history is worth little, so the
        # log is checkpointed often and ``compact`` cleans it up after an hour.
        configuration=VIEW_TABLE_CONFIG,
    )


def append(ledger: Ledger, name: str, seen: Look, rows: pl.DataFrame, *, shape: str) -> None:
    """Commit ``rows`` as one more fragment at exactly the version after ``seen``;
    ``CommitConflict`` when another refresher committed first."""
    path = files(ledger, name)
    fragments = seen.fragments + 1
    if not path.local or seen.table is not None:
        write(ledger, name, seen.table, rows, overwrite=False, fragments=fragments, shape=shape)
        return
    version = seen.version + 1
    buf = io.BytesIO()
    rows.write_parquet(buf, compression="zstd")
    body = buf.getvalue()
    add = Add(f"part-{uuid.uuid4()}.zstd.parquet", len(body), int(time.time() * 1000), True,
              json.dumps({"numRecords": rows.height}))
    path.write_data(add.path, body, sync=False)  # a view is rebuildable: no fsync (see above)
    try:
        # ``table`` is only used on object stores (never here: local disk)
        path.commit(None, version, [add], app_id=APP_ID, schema=pa.schema([]),  # type: ignore[arg-type]
                    metadata=_marks_of(rows, fragments, shape), sync=False)
    except CommitConflict:
        path.remove_data(add.path)
        raise
    if (version + zlib.crc32(name.encode())) % CHECKPOINT_EVERY == 0:
        # staggered by view: the views' tables advance in step, one commit per refresh, and
        # eight checkpoints in one refresh made it ~4x slower once every 20
        try:
            path.checkpoint(path.load(version))
        except LedgerError as exc:  # housekeeping: the fragment is committed, the next one retries
            log.info("view %s checkpoint skipped: %s", name, exc)


def _marks_of(rows: pl.DataFrame, fragments: int, shape: str) -> dict[str, str]:
    return {THROUGH: str(rows["_through"].max()), FRAGMENTS: str(fragments), SHAPE: shape}
