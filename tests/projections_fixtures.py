"""Event logs in memory for testing views without storage: the real codec, no Delta table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
from lakeledger.store import codec
from lakeledger.store.events import Event
from lakeledger.store.identity import Writer

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WRITER = Writer(user="alice", host="build-1", pid=4242, version="test")


def log_frame(
    commits: Sequence[Sequence[Event]],
    *,
    start: datetime = T0,
    every: timedelta = timedelta(minutes=1),
    writer: Writer = WRITER,
    first_version: int = 1,
) -> pl.LazyFrame:
    """Encode ``commits`` exactly as the store would, at versions 1, 2, ... a minute apart."""
    tables = [
        codec.encode(
            list(batch),
            version=first_version + i,
            recorded_at=start + i * every,
            writer=writer,
            batch_id=f"b{i}",
        )
        for i, batch in enumerate(commits)
        if batch
    ]
    if not tables:
        return pl.LazyFrame(schema=pl.from_arrow(codec.SCHEMA.empty_table()).schema)
    return pl.from_arrow(pa.concat_tables(tables)).lazy()  # type: ignore[union-attr]
