"""Full rebuild in bounded memory: the log is reduced in version chunks.

Each chunk ``(after, upto]`` of about ``CHUNK_EVENTS`` events is read on its own (deduplicated
against the versions before it, ``reading.new_events``), reduced to per-view state and merged
into the state so far (``state.fold``; the part rules are associative). Peak memory is one
chunk plus the states (which grow with the entities, not with the events); the result is the
state a reduction of the whole log gives, row order included (property-tested).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import polars as pl
import pyarrow as pa
from lakeledger.projections import registry
from lakeledger.projections.engine.reading import new_events
from lakeledger.projections.engine.state import State, empty, fold
from lakeledger.store import Ledger
from lakeledger.store.delta import DeltaTable

# Events per chunk: measured on the 1M/5M benchmark ledgers (scripts/bench/views.py), larger
# chunks buy little time and cost memory in proportion.
CHUNK_EVENTS = 500_000


def version_chunks(table: DeltaTable, upto: int, target: int) -> list[tuple[int, int]]:
    """``(after, upto]`` version ranges of about ``target`` events, cut between data files.

    Cuts come from the files' version statistics and row counts, so no data is read to plan.
    A cut is only made where no file spans it (each file is read once); without statistics
    (a foreign writer's files) the whole log is one chunk.
    """
    adds = pl.DataFrame(pa.table(table.get_add_actions(flatten=True)))
    if upto <= 0 or adds.height == 0:
        return [(0, upto)] if upto > 0 else []
    if not {"min.version", "max.version", "num_records"} <= set(adds.columns):
        return [(0, upto)]
    files = adds.select(
        lo=pl.col("min.version"), hi=pl.col("max.version"), n=pl.col("num_records")
    )
    if files.null_count().sum_horizontal().item():
        return [(0, upto)]
    bounds = [0]
    count = reach = 0
    for lo, hi, n in files.filter(pl.col("lo") <= upto).sort("lo", "hi").iter_rows():
        if count >= target and reach < lo and bounds[-1] < reach < upto:
            bounds.append(reach)
            count = 0
        count += n
        reach = max(reach, hi)
    bounds.append(upto)
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def rebuild(
    ledger: Ledger, names: Sequence[str], upto: int, *, chunk_events: int | None = None
) -> tuple[dict[str, State], int]:
    """(state of each named view over every event up to ``upto``, events read)."""
    groups = {n: registry.get(n).parts for n in names}
    states: dict[str, State] | None = None
    count = 0
    target = chunk_events or CHUNK_EVENTS
    for after, through in version_chunks(ledger.log.refresh(), upto, target):
        events = new_events(ledger, after, through)
        count += events.height
        states = fold(groups, states, events.lazy())
        del events  # the chunk is freed before the next is read
    if states is None:
        states = {n: empty(parts) for n, parts in groups.items()}
    return states, count
