"""Searching the runs view: an index per state, then only the rows kept are presented.

A filter over 100k runs is cheap once the settled rows (``runs.settled``) and the typed maps
(metrics, params, tags, aligned to those rows) are at hand: that is the ``SearchIndex``,
computed once per state and reused. It holds every part a presented row needs, so presenting
the hits needs nothing else: an index read back from storage (``engine/snapshot.py``) answers
a search without loading the view's state at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from lakeledger.projections.engine.state import Context, State
from lakeledger.projections.search import Aligned, Source, align, parse_columns, search
from lakeledger.projections.views.runs import (
    ALIASES,
    MAP_COLUMNS,
    live,
    present_parts,
    settled,
)

# map -> (state part, the column a filter compares): metric values as numbers, params as the
# text MLflow compares them as; the parts' other columns ride along for presenting
MAPS = {"metrics": ("metrics", "last"), "params": ("params", "text"), "tags": ("tags", "value")}


@dataclass(frozen=True)
class SearchIndex:
    """What a search over one state reads, computed once per state: the settled rows (view
    order) and each map's part aligned to them (``Aligned``: a comparison is a slice and a
    scatter; ``row`` instead of ``run_id``)."""

    rows: pl.DataFrame | pl.LazyFrame
    maps: dict[str, Aligned]
    stored: bool = False  # read back from storage

    @classmethod
    def of(cls, state: State) -> SearchIndex:
        """The index of ``state``, reused while the same state is searched again (the
        materialised state is itself reused per view version, see ``materialise.load``)."""
        started = state["started"]
        cached = _INDEXES.get(id(started))
        if cached is not None and cached[0] is started:
            return cached[1]
        rows = settled(state)
        maps = {m: align(state[p], rows["run_id"], "run_id", v) for m, (p, v) in MAPS.items()}
        index = cls(rows, maps)
        if len(_INDEXES) >= 4:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[id(started)] = (started, index)
        return index

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame | pl.LazyFrame]) -> SearchIndex:
        """An index from the frames ``frames`` gave (read back from storage, memory-mapped: a
        search touches the keys it names, presenting the rows it keeps)."""
        spans: dict[str, dict[str, tuple[int, int]]] = {m: {} for m in MAPS}
        for m, key, offset, length in frames["keys"].lazy().collect().iter_rows():
            spans[m][key] = (offset, length)
        rows = frames["rows"].lazy().collect()
        height = rows.height
        maps = {m: Aligned(frames[m], height, v, spans[m]) for m, (_, v) in MAPS.items()}
        return cls(rows, maps, stored=True)

    def frames(self) -> dict[str, pl.DataFrame]:
        """The index as plain frames, to store it: ``rows``, each map sorted by key (and row),
        and ``keys``: where each map's key starts and how many rows it has."""
        out: dict[str, pl.DataFrame] = {"rows": self.rows.lazy().collect()}
        keys = []
        for m, aligned in self.maps.items():
            out[m] = aligned.frame.lazy().sort("key", "row").collect()
            counts = out[m].group_by("key", maintain_order=True).len()
            keys.append(
                counts.select(
                    pl.lit(m).alias("map"),
                    "key",
                    (pl.col("len").cum_sum() - pl.col("len")).cast(pl.Int64).alias("offset"),
                    pl.col("len").cast(pl.Int64).alias("length"),
                )
            )
        out["keys"] = pl.concat(keys)
        return out

    def part(self, name: str, rows: pl.DataFrame) -> pl.DataFrame:
        """A map's part for some rows (``row``, ``run_id``), keyed by ``run_id`` as in the state."""
        return part_of(self.maps[name], rows)

    def present(self, hits: pl.DataFrame) -> pl.DataFrame:
        """The view's rows of a search's hits (their live lean rows with ``ROW``, their row
        number), in the hits' order: ``runs.present`` of the state restricted to them."""
        keys = hits.select(pl.col(ROW).alias("row"), "run_id")
        parts = [self.part(m, keys) for m in ("params", "tags", "metrics")]
        rows = present_parts(hits.drop(ROW).lazy(), *parts)
        return hits.select("run_id").join(rows, on="run_id", how="left", maintain_order="left")


ROW = "\x00row"  # a searched row's number in the index (a name no filter can spell)
_INDEXES: dict[int, tuple[pl.DataFrame, SearchIndex]] = {}  # id(state["started"]) -> index


def search_runs(
    state: State | SearchIndex,
    ctx: Context,
    filter: str | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    columns: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Runs passing a filter: searched on the settled rows plus aligned typed maps (see
    ``SearchIndex``), and only the rows kept are presented (formatting JSON objects is the
    costly part of the view). ``state`` may be the index itself."""
    index = state if isinstance(state, SearchIndex) else SearchIndex.of(state)
    options: dict[str, Any] = {"aliases": ALIASES, "sources": index.maps}
    base = live(index.rows.lazy(), ctx).with_row_index(ROW)  # row numbers: no id hashed later
    if columns and not _needs_view(columns):
        return search(base, filter, order_by=order_by, limit=limit, columns=columns, **options)
    hits = search(base, filter, order_by=order_by, limit=limit, **options)
    rows = index.present(hits)
    if not columns:
        return rows
    keys = hits.select(pl.col(ROW).alias("row"), "run_id")
    sources = {m: Source(index.part(m, keys), "run_id", v) for m, (_, v) in MAPS.items()}
    return search(rows, None, columns=columns, aliases=ALIASES, sources=sources)


def _needs_view(columns: str | Sequence[str]) -> bool:
    """Whether ``columns`` name a JSON column of the view (else the lean rows suffice)."""
    spec = columns if isinstance(columns, str) else ",".join(columns)
    return any(i.map is None and i.key in MAP_COLUMNS for i in parse_columns(spec))


def only(state: State, run_ids: list[str]) -> State:
    """The state restricted to some runs (to present only the rows a search kept)."""
    ids = pl.Series(run_ids, dtype=pl.String).implode()
    return {name: part.filter(pl.col("run_id").is_in(ids)) for name, part in state.items()}


def part_of(aligned: Aligned, rows: pl.DataFrame) -> pl.DataFrame:
    """The part of a map (aligned to a searched frame) for some of its rows (``row``,
    ``run_id``), keyed by ``run_id`` as in the state."""
    return (
        aligned.whole()
        .filter(pl.col("row").is_in(rows["row"].implode()))
        .join(rows, on="row", how="inner")
        .drop("row")
    )
