"""Full rebuild in bounded memory: the log is reduced in version chunks.

Each chunk ``(after, upto]`` of at most ``CHUNK_EVENTS`` events is read on its own (deduplicated
against the versions before it, ``reading.new_events``) and reduced to per-view state; the
chunk states are merged (``state.merge_views``; the part rules are associative). Peak memory
is one chunk plus the states (which grow with the entities, not with the events); the result
is the state a reduction of the whole log gives, row order included (property-tested).
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections.engine.reading import new_events
from lakeledger.projections.engine.state import State, empty, merge_views, reduce_views
from lakeledger.store import Ledger
from lakeledger.store.delta import DeltaTable, add_actions

# Events per chunk (at most; a larger data file is a chunk alone). Measured on the 5M-event
# benchmark ledger (files of 245k-315k events): 300k 30.2 CPU s, 500k 36.5 CPU s (two files
# per chunk must be re-sorted), same peak RSS: the states and their writing set the peak.
CHUNK_EVENTS = 300_000
# Chunk states merged in one pass every this many chunks: one group-by over them all instead of
# one per chunk over the growing state (most keys, e.g. a run's metrics, live in one chunk, so
# the unmerged states take about the room of the merged one). 5M events (20 chunks), merged
# every 8 chunks: 4.4 CPU s; once at the end: 2.2 CPU s, the same peak RSS. Past this many
# chunks the states are folded anyway, so keys repeated in every chunk stay bounded.
MERGE_EVERY = 32


@dataclass(frozen=True)
class Chunk:
    after: int
    upto: int
    overlap: bool  # an older file may hold one of its ids (else the look-back is skipped)


def version_chunks(table: DeltaTable, upto: int, target: int) -> list[Chunk]:
    """``(after, upto]`` version ranges of at most ``target`` events, cut between data files.

    Cuts come from the files' version statistics and row counts, so no data is read to plan.
    A cut is only made where no file spans it (each file is read once); without statistics
    (a foreign writer's files) the whole log is one chunk.
    """
    if upto <= 0:
        return []
    adds = add_actions(table)
    needed = {"min.version", "max.version", "num_records", "min.event_id", "max.event_id"}
    if adds.height == 0 or not needed <= set(adds.columns):
        return [Chunk(0, upto, True)]
    files = adds.select(
        lo=pl.col("min.version"),
        hi=pl.col("max.version"),
        n=pl.col("num_records"),
        first=pl.col("min.event_id"),
        last=pl.col("max.event_id"),
    ).filter(pl.col("lo") <= upto)
    if files.null_count().sum_horizontal().item():
        return [Chunk(0, upto, True)]
    bounds = [0]
    count = reach = 0
    for lo, hi, n in files.sort("lo", "hi").select("lo", "hi", "n").iter_rows():
        # cut before a file that would take the chunk past ``target`` (a file larger than
        # ``target`` is a chunk of its own): a chunk of one file is read already in log order
        if count and count + n > target and reach < lo and bounds[-1] < reach < upto:
            bounds.append(reach)
            count = 0
        count += n
        reach = max(reach, hi)
    bounds.append(upto)
    chunks = []
    for after, through in itertools.pairwise(bounds):
        if after >= through:
            continue
        inside = files.filter((pl.col("hi") > after) & (pl.col("lo") <= through))
        older = files.filter(pl.col("lo") <= after)
        overlap = bool(
            after > 0
            and older.height
            and inside.height
            and (
                older["last"].max() >= inside["first"].min()  # type: ignore[operator]
                # a writer may truncate string statistics: a shortened maximum proves nothing
                or older["last"].str.len_bytes().min() < inside["first"].str.len_bytes().max()  # type: ignore[operator]
            )
        )
        chunks.append(Chunk(after, through, overlap))
    return chunks


def rebuild(
    ledger: Ledger, names: Sequence[str], upto: int, *, chunk_events: int | None = None
) -> tuple[dict[str, State], int]:
    """(state of each named view over every event up to ``upto``, events read).

    The next chunk is read in a thread while this one is reduced (polars and delta-rs release
    the GIL; the reduction's Python parts hold it): the read overlaps the reduction on a second
    core. The garbage collector is paused meanwhile: the decoders make many short-lived objects
    and no cycles, and its passes over them were ~2% of the CPU.
    """
    groups = {n: registry.get(n).parts for n in names}
    pieces: list[dict[str, State]] = []
    count = 0
    chunks = version_chunks(ledger.log.refresh(), upto, chunk_events or CHUNK_EVENTS)

    def read(chunk: Chunk) -> pl.DataFrame:
        return new_events(ledger, chunk.after, chunk.upto, older_overlap=chunk.overlap)

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild-read") as reader:
            ahead = reader.submit(read, chunks[0]) if chunks else None
            for i in range(len(chunks)):
                assert ahead is not None
                events = ahead.result()
                ahead = reader.submit(read, chunks[i + 1]) if i + 1 < len(chunks) else None
                count += events.height
                pieces.append(reduce_views(groups, events.lazy()))
                del events  # freed before the chunk after next is read
                if len(pieces) >= MERGE_EVERY:
                    pieces = [merge_views(groups, pieces)]
    finally:
        if was_enabled:
            gc.enable()
    if not pieces:
        return {n: empty(parts) for n, parts in groups.items()}, 0
    return merge_views(groups, pieces), count
