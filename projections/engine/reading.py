"""Reading the event log for views: the whole of it, or a slice of versions.

A slice ``(after, upto]`` is deduplicated against everything before it, so folding the states
of consecutive slices gives exactly the state of all events: that is both the incremental
refresh (one slice: the new commits) and the chunked full rebuild (``rebuild.py``).
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import COLUMNS, POS_SHIFT
from lakeledger.projections.engine.state import prepare
from lakeledger.store import Ledger
from lakeledger.store.query import dedupe


def all_events(ledger: Ledger, upto: int) -> pl.DataFrame:
    """Every event (deduplicated) up to ``upto``, read once, in log order."""
    frame = ledger.log.scan(dedupe=True).filter(pl.col("version") <= upto).select(COLUMNS)
    return prepare(frame).collect()


def new_events(ledger: Ledger, after: int, upto: int, *, older_overlap: bool = True) -> pl.DataFrame:
    """Events committed in (after, upto], without ids the log already held at ``after``.

    ``older_overlap=False``: the caller knows from file statistics that no file at or before
    ``after`` holds an id as high as this slice's lowest, so the look-back is skipped.
    """
    raw = ledger.log.scan(dedupe=False)
    fresh = (
        raw.filter((pl.col("version") > after) & (pl.col("version") <= upto))
        .select(COLUMNS)
        .collect()
    )
    if has_repeats(fresh["event_id"]):
        fresh = dedupe(fresh)
    if after > 0 and fresh.height and older_overlap:
        # UUIDv7 ids grow with time, so min/max statistics prune nearly every older file.
        lowest = fresh["event_id"].min()
        seen = (
            raw.filter(
                (pl.col("version") <= after)
                & (pl.col("event_id") >= lowest)
                & pl.col("event_id").is_in(fresh["event_id"].implode())
            )
            .select("event_id")
            .collect()["event_id"]
        )
        if seen.len():
            fresh = fresh.filter(~pl.col("event_id").is_in(seen.implode()))
    return in_log_order(fresh)


def has_repeats(ids: pl.Series) -> bool:
    """Whether an id occurs twice. Ids read back in commit order are UUIDv7s that only grow
    (one writer), so two comparisons of neighbours answer it (5M events: 0.1 CPU s against
    0.45 for a hash count, itself 3x cheaper than the dedupe window); else a hash count."""
    if ids.len() < 2:
        return False
    earlier, later = ids.slice(0, ids.len() - 1), ids.slice(1)
    if (earlier < later).all(ignore_nulls=False):  # a null is not proof
        return False
    return ids.n_unique() < ids.len()


def in_log_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``prepare``'s order; rows read back in commit order (the usual case) are not re-sorted."""
    if frame.height == 0:
        return prepare(frame.lazy()).collect()
    pos = frame["version"].cast(pl.Int64) * POS_SHIFT + frame["seq"].cast(pl.Int64)
    if pos.is_sorted():
        return frame
    return prepare(frame.lazy()).collect()
