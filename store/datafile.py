"""Write one Parquet data file of the event table and describe it as a Delta add action.

Appends and compaction both commit through ``create_write_transaction`` with files written
here: measured here, that path costs ~35% less per commit than ``write_deltalake`` (p50 17.5 vs
26.9 ms on a loaded 2-core machine), and the file of a lost commit attempt is known, so it is
deleted at once instead of waiting for vacuum.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

# The Delta app transaction every event-log commit carries (its version: the commit's own).
SEQ_APP_ID = "lakeledger.events"
# Data-skipping stats only where reads filter (see LogSettings.table_config).
STATS_COLUMNS = ("version", "seq", "event_id", "kind", "stream", "batch_id")


def write(fs: fsspec.AbstractFileSystem, table_path: str, data: pa.Table, *, prefix: str = "part",
          data_change: bool = True) -> AddAction:
    name = f"{prefix}-{uuid.uuid4()}.parquet"
    with fs.open(f"{table_path}/{name}", "wb") as f:
        pq.write_table(data, f, compression="zstd")
        size = f.tell()
    return AddAction(name, size, {}, int(time.time() * 1000), data_change, json.dumps(stats(data)))


def stats(data: pa.Table) -> dict[str, Any]:
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for col in STATS_COLUMNS:
        arr = data.column(col)
        mm = pc.min_max(arr)
        mins[col], maxs[col] = mm["min"].as_py(), mm["max"].as_py()
        nulls[col] = arr.null_count
    return {"numRecords": data.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
