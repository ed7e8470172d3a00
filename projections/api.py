"""The Python API of the read side: ``view``, ``refresh``, ``check``.

``Ledger.view(name, as_of=None)`` and ``Ledger.check()`` delegate here (lazy import: data flows
store -> projections, never back).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections.engine import materialise
from lakeledger.projections.engine.state import Context, State, prepare, reduce
from lakeledger.projections.engine.world import corrupted_uris, gone_writers, missing_uris
from lakeledger.projections.gate import Report, problems
from lakeledger.projections.views import runs, staleness
from lakeledger.store import Ledger
from lakeledger.store.errors import StorageError
from lakeledger.store.query import AsOf, Moment

log = logging.getLogger("lakeledger.projections")


def state_of(
    ledger: Ledger, name: str, as_of: AsOf = None, *, refresh: bool = True
) -> tuple[State, Context]:
    """A view's state and the context to present it in, now or as of a past moment.

    Now: the materialised view, refreshed first. As of a moment: computed from the events up to
    it (by their recorded version / commit time, so it reaches over the ledger's whole life),
    with ``now`` = that moment: a run is ``lost`` then exactly when it was shown lost then.
    """
    view = registry.get(name)
    moment = Moment.parse(as_of)
    if moment is None:
        try:
            if refresh:
                materialise.refresh(ledger, [name])
            state, _, _ = materialise.load(ledger, name)
        except StorageError as exc:  # e.g. read-only access to the root: compute, don't store
            log.warning("view %s not materialised (%s); computing it from the events", name, exc)
            state = reduce(view.parts, read_events(ledger, kinds=view.kinds).lazy())
        now = datetime.now(UTC)
    else:
        events = read_events(ledger, as_of=as_of, kinds=view.kinds)
        state = reduce(view.parts, events.lazy())
        now = moment.time or _commit_time(events) or datetime.now(UTC)
    return state, _context(ledger, name, state, now, live=moment is None)


def read_events(
    ledger: Ledger,
    *,
    as_of: AsOf = None,
    kinds: Sequence[str] | None = None,
    streams: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Deduplicated events, in log order, narrowed *before* deduplicating.

    Same rows as ``ledger.events(...)`` (copies of an id share its kind and stream, and its
    first copy is at or before a moment whenever any copy is), but the dedupe window only
    sees the rows asked for, so an as-of view or an audit reads a small part of a large log.
    """
    frame = ledger.log.scan(dedupe=False)
    moment = Moment.parse(as_of)
    if moment is not None:
        frame = frame.filter(moment.predicate())
    if kinds:
        frame = frame.filter(pl.col("kind").is_in(list(kinds)))
    if streams:
        frame = frame.filter(pl.col("stream").is_in(list(streams)))
    frame = frame.filter(pl.col("version") == pl.col("version").min().over("event_id"))
    return prepare(frame).collect()


def _commit_time(events: pl.DataFrame) -> datetime | None:
    return events["recorded_at"].max() if events.height else None  # type: ignore[return-value]


def _context(ledger: Ledger, name: str, state: State, now: datetime, *, live: bool) -> Context:
    if name == "staleness":
        live = staleness.present_artifacts(state)
        missing = missing_uris(ledger, staleness.uris(state))
        return Context(now=now, missing=missing, corrupted=corrupted_uris(ledger, live))
    if name == "runs" and live:
        return Context(now=now, gone=gone_writers(state["started"], state["finished"]))
    return Context(now=now)


def view(ledger: Ledger, name: str, as_of: AsOf = None, *, refresh: bool = True) -> pl.DataFrame:
    """The view ``name`` now (materialised, refreshed) or as of a version / time."""
    state, ctx = state_of(ledger, name, as_of, refresh=refresh)
    return registry.get(name).present(state, ctx)


def run_metrics(
    ledger: Ledger, run_ids: Sequence[str] | None = None, as_of: AsOf = None
) -> pl.DataFrame:
    state, _ = state_of(ledger, "runs", as_of)
    frame = runs.run_metrics(state)
    return frame.filter(pl.col("run_id").is_in(list(run_ids))) if run_ids else frame


def refresh(
    ledger: Ledger, names: Sequence[str] | None = None, *, full: bool = False
) -> list[materialise.Refreshed]:
    return materialise.refresh(ledger, names, full=full)


def check(ledger: Ledger, as_of: AsOf = None) -> Report:
    """The integrity gate: stale, missing or orphaned artifacts, uncovered periods of declared
    datasets, and failing ``error`` validations. ``Report.ok`` when there is nothing."""
    frames = {n: view(ledger, n, as_of) for n in ("staleness", "coverage", "validations")}
    return Report(problems(frames["staleness"], frames["coverage"], frames["validations"]))
