"""Materialised views: each view's state as a Delta table ``<root>/views/<name>``.

The table holds the rows of every part of the view's state (column ``_part``) tagged with the
events version they reflect (``_through``). A refresh reduces only the events committed after
the version the table reflects and *appends* that fragment; reading merges the fragments in
``_through`` order (the part rules are their own merge, see ``state.py``), so refresh cost
depends on the new events, not on the size of the log. Every ``COMPACT_AFTER`` fragments the
merged state is written back as one. A full rebuild overwrites the table from all events,
reduced in bounded version chunks (``rebuild.py``).

Commits use ``max_commit_retries=0``: two refreshers racing cannot both append the same
fragment; the loser reloads and tries again. Duplicate event ids from foreign writers: the
new slice keeps an id's first row and drops ids already present at or before ``_through``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections.engine.reading import new_events
from lakeledger.projections.engine.rebuild import rebuild
from lakeledger.projections.engine.state import State, empty, reduce
from lakeledger.projections.registry import View
from lakeledger.store import Ledger
from lakeledger.store.delta import CommitConflict, DeltaTable, TablePath
from lakeledger.store.errors import StorageError

log = logging.getLogger("lakeledger.projections")

COMPACT_AFTER = 32
VIEW_TABLE_CONFIG: dict[str, str | None] = {
    "delta.checkpointInterval": "20",
    "delta.logRetentionDuration": "interval 1 hours",
}
MARKER = "_marker"


@dataclass(frozen=True)
class Refreshed:
    view: str
    through: int  # events version the view now reflects
    events: int  # events read for it
    full: bool
    seconds: float


def table_uri(ledger: Ledger, name: str) -> str:
    return ledger.location.join("views", name)


def union_schema(view: View) -> pl.Schema:
    columns: dict[str, pl.DataType] = {"_part": pl.String(), "_through": pl.Int64()}
    for part in view.parts:
        for col, dtype in part.schema().items():
            if columns.setdefault(col, dtype) != dtype:
                raise TypeError(
                    f"view {view.name}: column {col} has two types ({columns[col]}, {dtype})"
                )
    return pl.Schema(columns)


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


def _files(ledger: Ledger, name: str) -> TablePath:
    return TablePath(table_uri(ledger, name), ledger.location.options, ledger.location.redact)


def _open(ledger: Ledger, name: str) -> DeltaTable | None:
    return _files(ledger, name).load_or_none()


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
    table = _open(ledger, name)
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


def _write(
    ledger: Ledger, name: str, table: DeltaTable | None, rows: pl.DataFrame, *, overwrite: bool
) -> None:
    _files(ledger, name).write(
        rows,
        table=table,
        mode="overwrite" if overwrite else "append",
        schema_mode="overwrite" if overwrite else None,
        metadata={"lakeledger.through": str(rows["_through"].max())},
        # A view is rebuildable from events: its own Delta history is worth little, so the
        # log is checkpointed often and ``compact`` cleans it up after an hour.
        configuration=VIEW_TABLE_CONFIG,
    )


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
    tables = dict(zip(names, pool.map(lambda n: _open(ledger, n), names), strict=True))
    marks = dict(zip(names, pool.map(lambda n: _marks(ledger, tables[n]), names), strict=True))
    fulls = {
        n
        for n in names
        if full or marks[n][0] == 0 or marks[n][0] > upto or _reshaped(tables[n], n)
    }
    todo = [n for n in names if n in fulls or marks[n][0] < upto]
    done = [Refreshed(n, upto, 0, False, 0.0) for n in names if n not in todo]
    incremental = [n for n in todo if n not in fulls]
    fresh = new_events(ledger, min(marks[n][0] for n in incremental), upto) if incremental else None

    def one(name: str) -> Refreshed | None:
        assert fresh is not None
        started = time.perf_counter()
        events = fresh.filter(pl.col("version") > marks[name][0])
        state = reduce(registry.get(name).parts, events.lazy())
        return _commit(ledger, name, tables[name], state, upto, marks[name][1], events.height,
                       started, full=False)

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
            results[name] = _commit(
                ledger, name, tables[name], state, upto, 0, count, started, full=True
            )
            del state
    # Incremental refreshes are mostly storage latency: in parallel.
    results.update(zip(incremental, pool.map(one, incremental), strict=True))
    done += [r for r in results.values() if r is not None]
    return done, [n for n, r in results.items() if r is None]


def _commit(
    ledger: Ledger,
    name: str,
    table: DeltaTable | None,
    state: State,
    upto: int,
    fragments: int,
    events: int,
    started: float,
    *,
    full: bool,
) -> Refreshed | None:
    """Commit a view's new state (full) or fragment; None when a concurrent refresh won."""
    view = registry.get(name)
    try:
        _write(ledger, name, table, to_rows(view, state, upto), overwrite=full)
        if not full and fragments + 1 >= COMPACT_AFTER:
            compact(ledger, name)
    except CommitConflict:
        return None  # a concurrent refresh won: reload and redo this view
    except Exception as exc:  # noqa: BLE001 - storage failures become our error type, secrets removed
        raise StorageError(ledger.location.redact(f"cannot write view {name}: {exc}")) from None
    return Refreshed(name, upto, events, full, time.perf_counter() - started)


def _reshaped(table: DeltaTable | None, name: str) -> bool:
    """The stored state has other columns than the view's parts now (a new lakeledger version
    added a part or column): rebuild it from the events rather than fail to append."""
    if table is None:
        return False
    return {f.name for f in table.schema().fields} != set(union_schema(registry.get(name)))


def _marks(ledger: Ledger, table: DeltaTable | None) -> tuple[int, int]:
    """(events version the stored view reflects, number of fragments)."""
    if table is None:
        return 0, 0
    through, fragments = (
        pl.scan_delta(table, storage_options=ledger.location.options)
        .select(pl.col("_through").max().alias("through"), pl.col("_through").n_unique().alias("n"))
        .collect()
        .row(0)
    )
    return int(through or 0), int(fragments or 0)


def compact(ledger: Ledger, name: str) -> None:
    """Write the merged state back as a single fragment (same content, fewer rows and files)."""
    view = registry.get(name)
    table = _open(ledger, name)
    rows = _stored(ledger, table)
    if table is None or rows is None or rows.height == 0:
        return
    state = from_rows(view, rows)
    _write(ledger, name, table, to_rows(view, state, int(rows["_through"].max())), overwrite=True)  # type: ignore[arg-type]
    try:
        table.vacuum(retention_hours=1, enforce_retention_duration=False, dry_run=False)
        table.cleanup_metadata()
    except Exception as exc:  # noqa: BLE001 - housekeeping of a derived table never fails a refresh
        log.info("view %s cleanup skipped: %s", name, ledger.location.redact(str(exc)))
