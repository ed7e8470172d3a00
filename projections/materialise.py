"""Materialised views: each view's state as a Delta table ``<root>/views/<name>``.

The table holds the rows of every part of the view's state (column ``_part``) tagged with the
events version they reflect (``_through``). A refresh reduces only the events committed after
the version the table reflects and *appends* that fragment; reading merges the fragments in
``_through`` order (the part rules are their own merge, see ``state.py``), so refresh cost
depends on the new events, not on the size of the log. Every ``COMPACT_AFTER`` fragments the
merged state is written back as one. A full rebuild overwrites the table from all events.

Commits use ``max_commit_retries=0``: two refreshers racing cannot both append the same
fragment; the loser reloads and tries again. Duplicate event ids from foreign writers: the
new slice keeps an id's first row and drops ids already present at or before ``_through``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from lakeledger.store import Ledger
from lakeledger.store.errors import StorageError

from . import registry
from .payload import COLUMNS
from .registry import View
from .state import State, empty, prepare, reduce

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


def table_uri(ledger: Ledger, name: str) -> str:
    return ledger.location.join("views", name)


def union_schema(view: View) -> pl.Schema:
    columns: dict[str, pl.DataType] = {"_part": pl.String(), "_through": pl.Int64()}
    for part in view.parts:
        for col, dtype in part.schema().items():
            if columns.setdefault(col, dtype) != dtype:
                raise TypeError(f"view {view.name}: column {col} has two types ({columns[col]}, {dtype})")
    return pl.Schema(columns)


def to_rows(view: View, state: State, through: int) -> pl.DataFrame:
    """One frame of all parts' rows (plus a marker row recording ``through``)."""
    schema = union_schema(view)
    frames = [pl.DataFrame({"_part": [MARKER]}, schema={"_part": pl.String})]
    frames += [state[p.name].with_columns(_part=pl.lit(p.name)) for p in view.parts if state[p.name].height]
    out = pl.concat(frames, how="diagonal_relaxed").with_columns(_through=pl.lit(through, pl.Int64))
    return out.select([pl.col(c).cast(t) if c in out.columns else pl.lit(None, t).alias(c)
                       for c, t in schema.items()])


def from_rows(view: View, rows: pl.DataFrame) -> State:
    """Merge the stored fragments (oldest first) back into one state."""
    rows = rows.sort("_through", maintain_order=True)
    state: State = {}
    frames = []
    for part in view.parts:
        cols = list(part.schema())
        frames.append(part.merge(rows.lazy().filter(pl.col("_part") == part.name).select(cols)))
    for part, frame in zip(view.parts, pl.collect_all(frames), strict=True):
        state[part.name] = frame
    return state


def _open(ledger: Ledger, name: str) -> DeltaTable | None:
    try:
        return DeltaTable(table_uri(ledger, name), storage_options=ledger.location.options)
    except TableNotFoundError:
        return None


def _stored(ledger: Ledger, table: DeltaTable | None) -> pl.DataFrame | None:
    if table is None:
        return None
    return pl.scan_delta(table, storage_options=ledger.location.options).collect()


def load(ledger: Ledger, name: str) -> tuple[State, int, int]:
    """(state, events version it reflects, fragments) of a materialised view; empty if none."""
    view = registry.get(name)
    rows = _stored(ledger, _open(ledger, name))
    if rows is None or rows.height == 0:
        return empty(view.parts), 0, 0
    return from_rows(view, rows), int(rows["_through"].max()), rows["_through"].n_unique()  # type: ignore[arg-type]


def all_events(ledger: Ledger, upto: int) -> pl.LazyFrame:
    """Every event (deduplicated) up to ``upto``, read once, in log order."""
    frame = ledger.log.scan(dedupe=True).filter(pl.col("version") <= upto).select(COLUMNS)
    return prepare(frame).collect().lazy()


def new_events(ledger: Ledger, after: int, upto: int) -> pl.LazyFrame:
    """Events committed in (after, upto], without ids the log already held at ``after``."""
    raw = ledger.log.scan(dedupe=False)
    fresh = raw.filter((pl.col("version") > after) & (pl.col("version") <= upto)).select(COLUMNS).collect()
    fresh = fresh.filter(pl.col("version") == pl.col("version").min().over("event_id"))
    if after > 0 and fresh.height:
        # UUIDv7 ids grow with time, so min/max statistics prune nearly every older file.
        lowest = fresh["event_id"].min()
        seen = (
            raw.filter((pl.col("version") <= after) & (pl.col("event_id") >= lowest)
                       & pl.col("event_id").is_in(fresh["event_id"].implode()))
            .select("event_id").collect()["event_id"]
        )
        if seen.len():
            fresh = fresh.filter(~pl.col("event_id").is_in(seen.implode()))
    return prepare(fresh.lazy()).collect().lazy()


def _write(ledger: Ledger, name: str, table: DeltaTable | None, rows: pl.DataFrame, *, overwrite: bool) -> None:
    props = CommitProperties(max_commit_retries=0,
                             custom_metadata={"lakeledger.through": str(rows["_through"].max())})
    target: DeltaTable | str = table if table is not None else table_uri(ledger, name)
    write_deltalake(target, rows.to_arrow(), mode="overwrite" if overwrite else "append",
                    schema_mode="overwrite" if overwrite else None, commit_properties=props,
                    storage_options=None if table is not None else ledger.location.options)


def refresh(ledger: Ledger, names: Sequence[str] | None = None, *, full: bool = False,
            attempts: int = 20) -> list[Refreshed]:
    """Bring the named views (default: all) up to the ledger's current version."""
    wanted = registry.names(list(names) if names else None)
    upto = ledger.version
    done: list[Refreshed] = []
    pending = list(wanted)
    for attempt in range(attempts):
        tables = {n: _open(ledger, n) for n in pending}
        through = {n: _through(ledger, t) for n, t in tables.items()}
        fulls = {n for n in pending if full or through[n] == 0 or through[n] > upto}
        shared: dict[str, pl.LazyFrame] = {}
        if fulls:
            shared["all"] = all_events(ledger, upto)
        incremental = [n for n in pending if n not in fulls]
        if incremental:
            shared["new"] = new_events(ledger, min(through[n] for n in incremental), upto)
        lost: list[str] = []
        for name in pending:
            started = time.perf_counter()
            view = registry.get(name)
            is_full = name in fulls
            events = shared["all"] if is_full else shared["new"].filter(pl.col("version") > through[name])
            if not is_full and through[name] == upto:
                done.append(Refreshed(name, upto, 0, False, time.perf_counter() - started))
                continue
            state = reduce(view.parts, events)
            n_events = int(events.select(pl.len()).collect().item())
            try:
                _write(ledger, name, tables[name], to_rows(view, state, upto), overwrite=is_full)
                if not is_full and _fragments(ledger, name) >= COMPACT_AFTER:
                    compact(ledger, name)
            except CommitFailedError:
                lost.append(name)
                continue
            except Exception as exc:  # noqa: BLE001 - storage failures become our error type
                raise StorageError(ledger.location.redact(f"cannot write view {name}: {exc}")) from None
            done.append(Refreshed(name, upto, n_events, is_full, time.perf_counter() - started))
        if not lost:
            return done
        pending = lost
        time.sleep(0.01 * (attempt + 1))
    raise StorageError(f"views {', '.join(pending)} kept losing commits to concurrent refreshes; retry")


def _through(ledger: Ledger, table: DeltaTable | None) -> int:
    if table is None:
        return 0
    value = pl.scan_delta(table, storage_options=ledger.location.options).select(
        pl.col("_through").max()).collect().item()
    return int(value or 0)


def _fragments(ledger: Ledger, name: str) -> int:
    table = _open(ledger, name)
    if table is None:
        return 0
    return int(pl.scan_delta(table, storage_options=ledger.location.options)
               .select(pl.col("_through").n_unique()).collect().item())


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
    except Exception as exc:  # noqa: BLE001 - housekeeping only
        log.info("view %s cleanup skipped: %s", name, ledger.location.redact(str(exc)))
