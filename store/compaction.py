"""Compaction of the event table's small files, committed under the log's optimistic order.

delta-rs' ``optimize.compact`` drops ``app_transactions`` and rebases over concurrent commits
(seen here with 1.6: an OPTIMIZE read at version 18 landed at 20 and removed files version 19
had already compacted, duplicating their rows; delta-rs#3982 made concurrent data_change=false
removes non-conflicting). So we compact ourselves: read the small files, write one file sorted
by (version, seq) with stats on the index columns, and commit its add + the removes
(``data_change=false``, allowed on append-only tables) at exactly ``loaded + 1`` with the log's
app transaction. If anyone committed meanwhile, ours fails and the round is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, PostCommitHookProperties, Transaction
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction

from . import codec, datafile
from .datafile import SEQ_APP_ID

if TYPE_CHECKING:
    from .log import EventLog


def compact(event_log: EventLog, *, min_files: int = 2) -> dict[str, int] | None:
    """Merge the table's small files into one. Returns counts, or None when skipped/lost."""

    table = event_log.refresh()
    version = table.version()
    adds = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(adds, pl.DataFrame)
    target = event_log.settings.compact_target_bytes
    small = adds.filter(pl.col("size_bytes") < target // 2).sort("min.version")
    # bin: the oldest small files up to the target size
    small = small.filter(pl.col("size_bytes").cum_sum() <= target)
    if small.height < min_files:
        return None
    fs, table_path = event_log.fs
    parts = [pq.read_table(f"{table_path}/{p}", filesystem=fs) for p in small["path"]]
    merged = pa.concat_tables(parts).cast(codec.SCHEMA)
    merged = merged.sort_by([("version", "ascending"), ("seq", "ascending")])
    add = datafile.write(fs, table_path, merged, prefix="part-compact", data_change=False)
    actions: list[AddAction | RemoveAction] = [
        RemoveAction(path=p, data_change=False, deletion_timestamp=add.modification_time, size=s,
                     partition_values={})
        for p, s in zip(small["path"], small["size_bytes"], strict=True)
    ]
    actions.append(add)
    try:
        table.create_write_transaction(
            actions,
            "append",
            codec.SCHEMA,
            commit_properties=CommitProperties(
                max_commit_retries=0,
                app_transactions=[Transaction(SEQ_APP_ID, version + 1)],
                custom_metadata={"lakeledger.operation": "compact"},
            ),
            post_commithook_properties=PostCommitHookProperties(
                create_checkpoint=True, cleanup_expired_logs=False
            ),
        )
    except CommitFailedError:
        fs.rm(f"{table_path}/{add.path}")  # someone committed first: nothing references it
        return None
    return {"files_removed": small.height, "rows": merged.num_rows, "version": version + 1}
