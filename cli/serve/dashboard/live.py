"""Live states: a view's state kept current in the server's memory, one commit at a time.

A page at "now" needs the state as of the ledger's newest version. Loading it from the
materialised view costs the whole view each time the ledger moves (every commit); here the
state loaded once is brought forward by reducing only the events committed since, merged with
the engine's own rules (``Part.merge``: merging a newer slice's state into an older one equals
reducing both slices, property-tested there). Only the keys the new events touch are merged,
so a commit costs the size of that commit plus a hash lookup per state row.

Past moments are not kept here: they are computed from the events up to the moment and cached
per moment by the page cache.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence

import polars as pl
from lakeledger.projections import api, registry
from lakeledger.projections.engine import materialise
from lakeledger.projections.engine.state import Part, State, empty, reduce
from lakeledger.store import Ledger
from lakeledger.store.errors import StorageError

Loader = Callable[[Ledger], tuple[State, int]]
MAX_CHUNKS = 24  # past this many chunks an advance copies a part into one (compact() does it sooner)
TIDY_CHUNKS = 8  # compact() copies parts with more chunks than this into one (every few advances)


HASH = "_h"  # the first key's hash, kept beside each part's rows: a cheap index for narrowing


def hashed(part: Part, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(part.keys[0]).hash().alias(HASH))


def merge_touched(part: Part, older: pl.DataFrame, newer: pl.DataFrame) -> pl.DataFrame:
    """``part.merge(older ++ newer)`` computed on the keys ``newer`` touches only (row order:
    rows of other first keys first, then the rest). Both frames carry ``HASH``; so does the result.

    Rows are first narrowed by the hash of the first key (an integer set test per row; a
    collision only lets a row through to the exact joins, which keep it); the joins on the
    whole key see those few (a two-string-key anti join over 400k metric rows: 340 ms). When
    no older row has a key of the new ones (new runs, new partitions: most of a commit), the
    new rows are appended as they are: no copy of the older rows (copying the
    runs' metrics part, 400k rows, was most of an advance's merge)."""
    if not newer.height:
        return older
    keys = list(part.keys)
    near = pl.col(HASH).is_in(newer[HASH].unique().implode())
    candidates = older.filter(near)
    touched = newer.select(keys).unique()
    old = candidates.join(touched, on=keys, how="semi", nulls_equal=True)
    if not old.height:  # only new keys: part.merge of one reduced slice is itself
        return pl.concat([older, newer.select(older.columns)], how="vertical_relaxed", rechunk=False)
    kept = candidates.lazy().join(touched.lazy(), on=keys, how="anti", nulls_equal=True)
    merged = part.merge(pl.concat([old.lazy().drop(HASH), newer.lazy().drop(HASH)], how="vertical_relaxed"))
    merged = merged.with_columns(pl.col(keys[0]).hash().alias(HASH)).select(older.columns)
    return pl.concat([older.lazy().filter(~near), kept, merged], how="vertical_relaxed").collect()


def from_events(parts: Sequence[Part], kinds: Sequence[str]) -> Loader:
    """First load by reducing the events of ``kinds`` up to the current version (for folds
    that are not a materialised view: one scan, when a page first needs it)."""

    def load(ledger: Ledger) -> tuple[State, int]:
        upto = ledger.version
        events = api.read_events(ledger, as_of=upto, kinds=kinds)
        return reduce(parts, events.lazy()), upto

    return load


class Live:
    """The state of ``parts`` now, per ledger root, advanced by the events of each new commit."""

    def __init__(self, parts: Sequence[Part], load: Loader) -> None:
        self.parts = tuple(parts)
        self.load = load
        self._states: dict[str, tuple[State, int]] = {}
        # root -> (version since which changes are recorded, first key -> version it last changed
        # at): only for states asked ``changed`` (a few keys, e.g. coverage's datasets)
        self._changes: dict[str, tuple[int, dict[str, int]]] = {}
        self._lock = threading.Lock()
        LIVES.add(self)

    def state(self, ledger: Ledger, version: int) -> State:
        """The state as of events version ``version`` (the ledger's current one)."""
        return {name: frame.drop(HASH) for name, frame in self._held(ledger, version).items()}

    def only(self, ledger: Ledger, version: int, keys: list[str]) -> State:
        """The state restricted to rows whose first key is one of ``keys`` (a page's runs):
        narrowed by the kept hashes first, so it costs an integer test per row, not a string
        hash (measured at 5M events, 50 runs out of 100k: 90-170 ms -> see the commit)."""
        wanted = pl.Series(keys, dtype=pl.String)
        hashes = wanted.hash().implode()
        held = self._held(ledger, version)
        out = {}
        for part in self.parts:
            frame = held[part.name]
            near = frame.filter(pl.col(HASH).is_in(hashes))
            out[part.name] = near.filter(pl.col(part.keys[0]).is_in(wanted.implode())).drop(HASH)
        return out

    def changed(self, ledger: Ledger, version: int, keys: list[str]) -> dict[str, int]:
        """Per first key, a version that changes exactly when that key's rows do (the version
        of their last change, or the one since which changes are recorded): a fingerprint
        costing a dict lookup, where counting and comparing rows costs a pass over the part
        (coverage at 5M events: ~15 ms CPU per page)."""
        root = str(ledger.location.root)
        with self._lock:
            if root not in self._changes:
                self._changes[root] = (self._states[root][1], {}) if root in self._states else (-1, {})
        self._held(ledger, version)
        since, last = self._changes[root]
        if since < 0:  # recorded from the first load on
            since = self._states[root][1]
            self._changes[root] = (since, last)
        # a key changed after ``version`` (another reader brought the state further meanwhile)
        # is left out: the caller's state may be the older one (it then compares rows itself)
        found = {k: last.get(k, since) for k in keys}
        return {k: v for k, v in found.items() if v <= version}

    def _held(self, ledger: Ledger, version: int) -> State:
        root = str(ledger.location.root)
        with self._lock:
            held = self._states.get(root)
            if held is not None and held[1] > version:
                # another reader (the warmer, see warm.py) brought it past the version this
                # request read a moment ago: that is "now" too, and reloading would cost seconds
                return held[0]
            if held is None:
                state, through = self.load(ledger)
                held = {p.name: state[p.name] if HASH in state[p.name].columns else hashed(p, state[p.name])
                        for p in self.parts}, through
            if held[1] < version:
                held = self._advance(ledger, held, version)
            self._states[root] = held
            return held[0]

    def _advance(self, ledger: Ledger, held: tuple[State, int], version: int) -> tuple[State, int]:
        state, through = held
        fresh = _new_events(ledger, through, version)
        if not fresh.height:
            return state, version
        newer = reduce(self.parts, fresh.lazy())
        changes = self._changes.get(str(ledger.location.root))
        if changes is not None:
            for part in self.parts:
                for key in newer[part.name][part.keys[0]].unique().to_list():
                    changes[1][key] = version
        # one part after the other: on a loaded 2-core machine polars' parallel collect_all of
        # the parts measured ~1.8x slower than this (240 vs 137 ms, runs state at 5M events)
        frames = [
            merge_touched(p, state[p.name], hashed(p, newer[p.name])) for p in self.parts
        ]
        # every advance appends chunks: past a few, joins over the state slow down (measured:
        # 35 ms -> 220 ms per advance of the runs state after ~100 commits), so copy them into
        # one; normally sooner and off the request's path, by compact() (warm.py calls it)
        frames = [f.rechunk() if f.n_chunks() > MAX_CHUNKS else f for f in frames]
        return {p.name: f for p, f in zip(self.parts, frames, strict=True)}, version

    def compact(self) -> None:
        """Copy parts left in several chunks into one, outside the lock (a request reading the
        state meanwhile is not held up); the copy replaces the state only if no advance came
        in between. At 5M events this was 40-70 ms of CPU every other advance, on the request."""
        with self._lock:
            held = dict(self._states)
        for root, (state, version) in held.items():
            if all(frame.n_chunks() <= TIDY_CHUNKS for frame in state.values()):
                continue
            tidy = {n: f.rechunk() if f.n_chunks() > TIDY_CHUNKS else f for n, f in state.items()}
            with self._lock:
                now = self._states.get(root)
                if now is not None and now[0] is state:
                    self._states[root] = (tidy, version)


LIVES: weakref.WeakSet[Live] = weakref.WeakSet()  # every live state of this process


def compact_all() -> None:
    for held in list(LIVES):
        held.compact()


_LAST: dict[str, tuple[int, int, pl.DataFrame]] = {}  # root -> (after, upto, events): the last read


def _new_events(ledger: Ledger, after: int, upto: int) -> pl.DataFrame:
    """The events of (after, upto], read once for all the live states a page advances."""
    root = str(ledger.location.root)
    last = _LAST.get(root)
    if last is not None and last[:2] == (after, upto):
        return last[2]
    events = materialise.new_events(ledger, after, upto)
    _LAST[root] = (after, upto, events)
    return events


def view_loader(name: str) -> Loader:
    """First load of a view's state from its materialised table (refreshed first).

    The table holds one large fragment (the last rebuild or compaction) and a few small ones
    (one per refresh since); ``materialise.load`` merges them all with a group-by over every
    row (runs at 5M events, 1.23M rows: 2.3 s CPU). Here each part is read on its own (only its
    columns) and the later fragments are merged into the first on the keys they touch
    (``merge_touched``: the same state, property-tested in tests/test_dashboard_live.py).
    Without write access to the root: reduced from the events (``api.live_state``)."""
    parts = registry.get(name).parts

    def load(ledger: Ledger) -> tuple[State, int]:
        try:
            materialise.refresh(ledger, [name])
            table = materialise.files(ledger, name).load_or_none()
        except StorageError:
            return api.live_state(ledger, name)
        if table is None:
            return empty(parts), 0
        scan = pl.scan_delta(table, storage_options=ledger.location.options)
        plans = [scan.select(pl.col("_through").max())]
        plans += [scan.filter(pl.col("_part") == p.name).select("_through", *p.schema()) for p in parts]
        through, *frames = pl.collect_all(plans)
        state = {p.name: _merged(p, frame) for p, frame in zip(parts, frames, strict=True)}
        return state, int(through.item() or 0)

    return load


def _merged(part: Part, rows: pl.DataFrame) -> pl.DataFrame:
    """One part's stored fragments (``_through`` tells them apart) as one state, with ``HASH``."""
    fragments = rows.partition_by("_through", maintain_order=True, include_key=False)
    if not fragments:
        return hashed(part, rows.drop("_through"))
    order = rows["_through"].unique(maintain_order=True).to_list()  # partition_by's order
    fragments = [f for _, f in sorted(zip(order, fragments, strict=True), key=lambda t: t[0])]
    state = hashed(part, fragments[0])
    for newer in fragments[1:]:
        state = merge_touched(part, state, hashed(part, newer))
    return state
