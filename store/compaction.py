"""Compaction of the event table's small files, committed under the log's optimistic order.

delta-rs' ``optimize.compact`` drops ``app_transactions`` and rebases over concurrent commits
(seen here with 1.6: an OPTIMIZE read at version 18 landed at 20 and removed files version 19
had already compacted, duplicating their rows). So we compact ourselves: read the small files,
write one file sorted by (version, seq) with stats on the index columns, and commit its add +
the removes (``data_change=false``, allowed on append-only tables) at exactly ``loaded + 1``
with the log's app transaction.

Under steady concurrent appends that commit nearly always loses the race (measured: 0
compactions over 1,010 versions with 6 writers). Appends never remove files, so on a conflict
the same merged file is committed again on the new snapshot, as long as every file it replaces
is still live there (another compaction may have taken them: then ours is dropped).

A round with too few small files instead rewrites one big file laid out before row groups were
bounded (``datafile.ROW_GROUP_ROWS``; the first landings wrote 300k-row files as one group): the
id look-up of an idempotent retry decodes one group of a laid-out file, the whole file of an old
one (2.4 against 36 ms per retry on a 1M-event log of such files). Footers are read once per file
per process, so a log with nothing left to rewrite costs a dictionary look-up per big file.
"""

from __future__ import annotations

import math
import random
import time
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import codec, datafile
from .datafile import SEQ_APP_ID
from .delta import Add, CommitConflict, Remove, TablePath, add_actions

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from .log import EventLog

MAX_ATTEMPTS = 50
# Small files read between two yields to the appender (``EventLog.pace``): one step per append
# must be enough to keep up with a compaction due every 100 versions.
FILES_PER_STEP = 8


# big files whose row groups were found bounded, per table (footers are read once per process)
_LAID_OUT: dict[str, set[str]] = {}


def compact(event_log: EventLog, *, min_files: int = 2) -> dict[str, int] | None:
    """Merge the table's small files into one, or else rewrite one file of the old layout.
    Returns counts, or None when there was nothing to do or the commit was lost."""

    event_log.pace()
    table = event_log.refresh()
    event_log.pace()
    adds = add_actions(table)
    chosen = _small_files(adds, event_log.settings.compact_target_bytes)
    if chosen.height < min_files:
        chosen = _old_layout(event_log, adds)
        if chosen.height == 0:
            return None
    return _rewrite(event_log, table, chosen)


def _rewrite(event_log: EventLog, table: DeltaTable, small: pl.DataFrame) -> dict[str, int] | None:
    """Replace the files of ``small`` (path, size_bytes) by one, committed at the next version."""
    files = event_log.files
    parts = []
    for i, p in enumerate(small["path"]):
        if i % FILES_PER_STEP == 0:
            event_log.pace()  # a few small files per step, one step per append beside us
        parts.append(pq.ParquetFile(f"{files.path}/{p}", filesystem=files.fs).read())
    event_log.pace()
    merged = pa.concat_tables(parts).cast(codec.SCHEMA)
    merged = merged.sort_by([("version", "ascending"), ("seq", "ascending")])
    event_log.pace()
    add = datafile.write(files, merged, prefix="part-compact", data_change=False)
    event_log.pace()  # the commit attempts that follow are not paced: they race the appenders
    removes = [
        Remove(path=p, size=s, deletion_timestamp=add.modification_time)
        for p, s in zip(small["path"], small["size_bytes"], strict=True)
    ]
    actions: list[Add | Remove] = [*removes, add]
    wanted = set(small["path"].to_list())
    version = table.version() + 1
    for attempt in range(MAX_ATTEMPTS):
        try:
            files.commit(table, version, actions, app_id=SEQ_APP_ID, schema=codec.SCHEMA,
                         metadata={"lakeledger.operation": "compact"})
        except CommitConflict:
            # The version went to another writer. On local disk its commit file says whether it
            # removed any of our files (only a compaction does): if not, try the next version at
            # once. Reloading the snapshot instead took longer than appenders take to land the
            # next version, so running beside appenders it nearly never landed.
            walked = _walk(files, version, wanted)
            if walked == -1:
                break  # another compaction took some of these files
            if walked is None:
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 5)))
                table = event_log.refresh()
                live = set(add_actions(table)["path"].to_list())
                if not wanted <= live:
                    break  # another compaction took some of these files
                version = table.version() + 1
            else:
                version = walked
            continue
        event_log.known_version = max(event_log.known_version, version)
        return {"files_removed": small.height, "rows": merged.num_rows, "version": version}
    files.remove_data(add.path)  # not committed: nothing references it
    return None


def _walk(files: TablePath, version: int, wanted: set[str]) -> int | None:
    """The first version after ``version`` with no commit yet, reading the commits on the way;
    -1 when one of them removed a file in ``wanted``; None when a commit file cannot be read
    (not local, or cleaned up: we are behind a checkpoint) and a snapshot must be loaded."""
    while True:
        removed = files.removed_in(version)
        if removed is None:
            return None if version <= files.last_checkpoint() or not files.local else version
        if wanted & removed:
            return -1
        version += 1


def _old_layout(event_log: EventLog, adds: pl.DataFrame) -> pl.DataFrame:
    """At most one live file (of ``adds``) with fewer row groups than ``ROW_GROUP_ROWS`` makes
    for its rows."""
    files = event_log.files
    checked = _LAID_OUT.setdefault(files.uri, set())
    for path, size, rows in adds.filter(pl.col("num_records") > datafile.ROW_GROUP_ROWS).select(
        "path", "size_bytes", "num_records"
    ).iter_rows():
        if path in checked:
            continue
        event_log.pace()
        groups = pq.ParquetFile(f"{files.path}/{path}", filesystem=files.fs).metadata.num_row_groups
        if groups < math.ceil(rows / datafile.ROW_GROUP_ROWS):
            return pl.DataFrame({"path": [path], "size_bytes": [size]})
        checked.add(path)
    return adds.clear().select("path", "size_bytes")


def _small_files(adds: pl.DataFrame, target: int) -> pl.DataFrame:
    small = adds.filter(pl.col("size_bytes") < target // 2).sort("min.version")
    # bin: the oldest small files up to the target size
    return small.filter(pl.col("size_bytes").cum_sum() <= target)
