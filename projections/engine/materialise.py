"""Materialised views: each view's state as a Delta table ``<root>/views/<name>``.

The table holds the rows of every part of the view's state (column ``_part``) tagged with the
events version they reflect (``_through``). A refresh reduces only the events committed after
the version the table reflects and *appends* that fragment; reading merges the fragments in
``_through`` order (the part rules are their own merge, see ``state.py``), so refresh cost
depends on the new events, not on the size of the log. Every ~``COMPACT_AFTER`` fragments the
merged state is written back as one. A full rebuild overwrites the table from all events,
reduced in bounded version chunks (``rebuild.py``). A view reads only its kinds of the new
events; with none among them nothing is reduced, yet its (empty) fragment is still committed:
the table then says it reflects the current version, so readers and the published table
(``publish.py``) never see it behind. How a table is looked at and appended to cheaply (marks
in the commit metadata, fragment commits without delta-rs): ``tables.py``.

Commits use ``max_commit_retries=0``: two refreshers racing cannot both append the same
fragment; the loser reloads and tries again. Duplicate event ids from foreign writers: the
new slice keeps an id's first row and drops ids already present at or before ``_through``.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections.engine.reading import new_events
from lakeledger.projections.engine.rebuild import rebuild
from lakeledger.projections.engine.state import State, empty, reduce
from lakeledger.projections.engine.tables import Look, append, files, look, table_uri, write
from lakeledger.projections.registry import View
from lakeledger.store import Ledger
from lakeledger.store.delta import CommitConflict, DeltaTable
from lakeledger.store.errors import StorageError

log = logging.getLogger("lakeledger.projections")

COMPACT_AFTER = 32
MARKER = "_marker"


@dataclass(frozen=True)
class Refreshed:
    view: str
    through: int  # events version the view now reflects
    events: int  # events read for it
    full: bool
    seconds: float


def union_schema(view: View) -> pl.Schema:
    columns: dict[str, pl.DataType] = {"_part": pl.String(), "_through": pl.Int64()}
    for part in view.parts:
        for col, dtype in part.schema().items():
            if columns.setdefault(col, dtype) != dtype:
                raise TypeError(
                    f"view {view.name}: column {col} has two types ({columns[col]}, {dtype})"
                )
    return pl.Schema(columns)


def shape(view: View) -> str:
    """Fingerprint of the view's stored columns and types: a table holding other ones (a new
    lakeledger version added a part or column) is rebuilt rather than appended to."""
    cached = _SHAPES.get(view.name)
    if cached is None:
        text = ",".join(f"{c}:{t}" for c, t in union_schema(view).items())
        cached = _SHAPES[view.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cached


_SHAPES: dict[str, str] = {}


def to_rows(view: View, state: State, through: int) -> pl.DataFrame:
    """One frame of all parts' rows (plus a marker row recording ``through``)."""
    schema = union_schema(view)
    frames = [pl.DataFrame({"_part": [MARKER]}, schema={"_part": pl.String})]
    frames += [
        state[p.name].with_columns(_part=pl.lit(p.name)) for p in view.parts if state[p.name].height
    ]
    out = pl.concat(frames, how="diagonal_relaxed").with_columns(_through=pl.lit(through, pl.Int64))
    return out.select(
        [
            pl.col(c).cast(t) if c in out.columns else pl.lit(None, t).alias(c)
            for c, t in schema.items()
        ]
    )


def from_rows(view: View, rows: pl.DataFrame) -> State:
    """Merge the stored fragments (oldest first) back into one state."""
    # One fragment (a full rebuild or a compaction wrote it) is already one row per key: no
    # merge needed, nor a sort, which halves loading a large view.
    single = rows["_through"].n_unique() <= 1
    if not single:
        rows = rows.sort("_through", maintain_order=True)
    state: State = {}
    frames = []
    for part in view.parts:
        cols = list(part.schema())
        stored = rows.lazy().filter(pl.col("_part") == part.name).select(cols)
        frames.append(stored if single else part.merge(stored))
    for part, frame in zip(view.parts, pl.collect_all(frames), strict=True):
        state[part.name] = frame
    return state


def _stored(ledger: Ledger, table: DeltaTable | None) -> pl.DataFrame | None:
    if table is None:
        return None
    return pl.scan_delta(table, storage_options=ledger.location.options).collect()


def load(ledger: Ledger, name: str) -> tuple[State, int, int]:
    """(state, events version it reflects, fragments) of a materialised view; empty if none.

    The decoded state is kept per table identity and version (``_LOADED``): reading the view
    again while nothing was committed to it (repeated searches of a server or a notebook)
    costs one look at the table's version, and hands back the same frames (so an index built
    on them, such as a search's, is reused too)."""
    view = registry.get(name)
    table = files(ledger, name).load_or_none()
    key = (table.metadata().id, table.version()) if table is not None else None
    cached = _LOADED.get(table_uri(ledger, name))
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    rows = _stored(ledger, table)
    if rows is None or rows.height == 0:
        return empty(view.parts), 0, 0
    loaded = from_rows(view, rows), int(rows["_through"].max()), rows["_through"].n_unique()  # type: ignore[arg-type]
    if key is not None:
        _LOADED.pop(table_uri(ledger, name), None)
        while len(_LOADED) >= LOADED_KEPT:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[table_uri(ledger, name)] = (key, loaded)
    return loaded


LOADED_KEPT = 4  # decoded states kept (a 100k-run state is tens of MB)
_LOADED: dict[str, tuple[tuple[str, int], tuple[State, int, int]]] = {}


def refresh(
    ledger: Ledger, names: Sequence[str] | None = None, *, full: bool = False, attempts: int = 20
) -> list[Refreshed]:
    """Bring the named views (default: all) up to the ledger's current version.

    The events are read once for all views; incremental refreshes run in parallel threads
    (delta-rs and polars release the GIL).
    """
    wanted = registry.names(list(names) if names else None)
    upto = ledger.version
    done: list[Refreshed] = []
    pending = list(wanted)
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        for attempt in range(attempts):
            finished, pending = _round(ledger, pool, pending, upto, full)
            done += finished
            if not pending:
                order = {n: i for i, n in enumerate(wanted)}
                return sorted(done, key=lambda r: order[r.view])
            time.sleep(0.01 * (attempt + 1))
    raise StorageError(
        f"views {', '.join(pending)} kept losing commits to concurrent refreshes; retry"
    )


def _round(
    ledger: Ledger, pool: ThreadPoolExecutor, names: list[str], upto: int, full: bool
) -> tuple[list[Refreshed], list[str]]:
    """One attempt at refreshing ``names``: (refreshed, views that lost a commit race)."""
    seen = dict(zip(names, pool.map(lambda n: look(ledger, n), names), strict=True))
    fulls = {
        n
        for n in names
        if full or seen[n].through == 0 or seen[n].through > upto or _reshaped(seen[n], n)
    }
    todo = [n for n in names if n in fulls or seen[n].through < upto]
    done = [Refreshed(n, upto, 0, False, 0.0) for n in names if n not in todo]
    incremental = [n for n in todo if n not in fulls]
    fresh = new_events(ledger, min(seen[n].through for n in incremental), upto) if incremental else None

    def one(name: str) -> Refreshed | None:
        assert fresh is not None
        started = time.perf_counter()
        view = registry.get(name)
        # Only the kinds the view reads (the same state, property-tested); none of them among
        # the new events: the fragment is empty, nothing to reduce.
        events = fresh.filter((pl.col("version") > seen[name].through) & pl.col("kind").is_in(view.kinds))
        state = reduce(view.parts, events.lazy()) if events.height else empty(view.parts)
        return _commit(ledger, name, seen[name], state, upto, events.height, started, full=False)

    results: dict[str, Refreshed | None] = {}
    if fulls:
        # Full rebuilds read the log once, chunk by chunk, for all of them (``rebuild.py``);
        # the states are then written one at a time, each freed once written: the rows of
        # all views at once were the peak of a 5M-event rebuild (+0.35 GB).
        started = time.perf_counter()
        rebuilt = [n for n in todo if n in fulls]
        states, count = rebuild(ledger, rebuilt, upto)
        for name in rebuilt:
            state = states.pop(name)
            results[name] = _commit(ledger, name, seen[name], state, upto, count, started, full=True)
            del state
    # Incremental refreshes are mostly storage latency: in parallel.
    results.update(zip(incremental, pool.map(one, incremental), strict=True))
    done += [r for r in results.values() if r is not None]
    return done, [n for n, r in results.items() if r is None]


def _commit(
    ledger: Ledger,
    name: str,
    seen: Look,
    state: State,
    upto: int,
    events: int,
    started: float,
    *,
    full: bool,
) -> Refreshed | None:
    """Commit a view's new state (full) or one more fragment onto the table as ``seen``;
    None when a concurrent refresh won."""
    view = registry.get(name)
    try:
        rows = to_rows(view, state, upto)
        if full:
            write(ledger, name, seen.table, rows, overwrite=True, fragments=1, shape=shape(view))
        else:
            append(ledger, name, seen, rows, shape=shape(view))
            if seen.fragments + 1 >= _compact_after(name):
                compact(ledger, name)
    except CommitConflict:
        return None  # a concurrent refresh won: reload and redo this view
    except Exception as exc:  # noqa: BLE001 - storage failures become our error type, secrets removed
        raise StorageError(ledger.location.redact(f"cannot write view {name}: {exc}")) from None
    return Refreshed(name, upto, events, full, time.perf_counter() - started)


def _compact_after(name: str) -> int:
    """``COMPACT_AFTER``, less up to a quarter of it by view: the views gain one fragment each
    per refresh, and all of them compacting in the same refresh made that one very slow."""
    return COMPACT_AFTER - zlib.crc32(name.encode()) % max(1, COMPACT_AFTER // 4)


def _reshaped(seen: Look, name: str) -> bool:
    """The stored state has other columns than the view's parts now (a new lakeledger version
    added a part or column): rebuild it from the events rather than fail to append."""
    view = registry.get(name)
    if seen.shape is not None:
        return seen.shape != shape(view)
    columns = seen.columns()
    return columns is not None and columns != set(union_schema(view))


def compact(ledger: Ledger, name: str) -> None:
    """Write the merged state back as a single fragment (same content, fewer rows and files)."""
    view = registry.get(name)
    table = files(ledger, name).load_or_none()
    rows = _stored(ledger, table)
    if table is None or rows is None or rows.height == 0:
        return
    state = from_rows(view, rows)
    through = int(rows["_through"].max())  # type: ignore[arg-type]
    write(ledger, name, table, to_rows(view, state, through), overwrite=True, fragments=1,
          shape=shape(view))
    try:
        table.vacuum(retention_hours=1, enforce_retention_duration=False, dry_run=False)
        table.cleanup_metadata()
    except Exception as exc:  # noqa: BLE001 - housekeeping of a derived table never fails a refresh
        log.info("view %s cleanup skipped: %s", name, ledger.location.redact(str(exc)))
