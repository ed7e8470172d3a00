"""The Python API of the read side: ``view``, ``refresh``, ``check``.

``Ledger.view(name, as_of=None)`` and ``Ledger.check()`` delegate here (lazy import: data flows
store -> projections, never back).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections import search as searching
from lakeledger.projections.engine import materialise, publish, snapshot
from lakeledger.projections.engine.state import Context, State, prepare, reduce
from lakeledger.projections.engine.world import (
    corrupted_uris,
    current_versions,
    gone_writers,
    storage_facts,
)
from lakeledger.projections.gate import Report, problems, warnings
from lakeledger.projections.views import models, runs, runs_search, staleness
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput, StorageError
from lakeledger.store.query import AsOf, Moment, filter_events

log = logging.getLogger("lakeledger.projections")


def state_of(
    ledger: Ledger, name: str, as_of: AsOf = None, *, refresh: bool = True
) -> tuple[State, Context]:
    """A view's state and the context to present it in, now or as of a past moment.

    Now: the materialised view, refreshed first. As of a moment: computed from the events up to
    it (by their recorded version / commit time, so it reaches over the ledger's whole life),
    with ``now`` = that moment: a run is ``lost`` then exactly when it was shown lost then.
    """
    state, ctx, _ = _state_through(ledger, name, as_of, refresh=refresh)
    return state, ctx


def _state_through(
    ledger: Ledger, name: str, as_of: AsOf = None, *, refresh: bool = True
) -> tuple[State, Context, int | None]:
    """``state_of`` plus the events version a live materialised state reflects (else None)."""
    view = registry.get(name)
    moment = Moment.parse(as_of)
    through: int | None = None
    if moment is None:
        try:
            if refresh:
                materialise.refresh(ledger, [name])
            state, through, _ = materialise.load(ledger, name)
        except StorageError as exc:  # e.g. read-only access to the root: compute, don't store
            log.warning("view %s not materialised (%s); computing it from the events", name, exc)
            state = reduce(view.parts, read_events(ledger, kinds=view.kinds).lazy())
        now = datetime.now(UTC)
    else:
        events = read_events(ledger, as_of=as_of, kinds=view.kinds)
        state = reduce(view.parts, events.lazy())
        now = moment.time or _commit_time(events) or datetime.now(UTC)
    return state, _context(ledger, name, state, now, live=moment is None), through


def live_state(ledger: Ledger, name: str) -> tuple[State, int]:
    """A view's state now and the events version it reflects, for a caller that keeps it current
    itself (the dashboard): the materialised view, refreshed; without write access to the root,
    reduced from the events up to the current version."""
    try:
        materialise.refresh(ledger, [name])
        state, through, _ = materialise.load(ledger, name)
        return state, through
    except StorageError as exc:
        log.warning("view %s not materialised (%s); computing it from the events", name, exc)
        upto = ledger.version
        view = registry.get(name)
        return reduce(view.parts, read_events(ledger, as_of=upto, kinds=view.kinds).lazy()), upto


def context_now(ledger: Ledger, name: str, state: State) -> Context:
    """The context to present a live state in: now, and the facts about the world it needs."""
    return _context(ledger, name, state, datetime.now(UTC), live=True)


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
    moment = Moment.parse(as_of)
    if moment is not None:
        _within_history(ledger, moment)
    frame = filter_events(
        ledger.log.scan(dedupe=False),
        kind=list(kinds) if kinds else None,
        stream=list(streams) if streams else None,
        as_of=as_of,
        deduplicate=True,
    )
    return prepare(frame).collect()


def _within_history(ledger: Ledger, moment: Moment) -> None:
    """A version the ledger has not reached, or a time not reached yet, is bad input, not "now":
    the answer would change once it is reached, so a link or an audit quoting it would show two
    different pasts (and a run would be judged lost against a clock that has not struck)."""
    if moment.time is not None and moment.time > (now := datetime.now(UTC)):
        raise InvalidInput(
            f"as-of {moment} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ}); leave as-of out "
            "for the current state"
        )
    if moment.version is not None and moment.version > (latest := ledger.version):
        raise InvalidInput(
            f"as-of version {moment.version} is after the ledger's latest version {latest}; "
            f"give a version up to {latest}, or a time"
        )


def _commit_time(events: pl.DataFrame) -> datetime | None:
    return events["recorded_at"].max() if events.height else None  # type: ignore[return-value]


def _context(ledger: Ledger, name: str, state: State, now: datetime, *, live: bool) -> Context:
    if name == "staleness":
        missing, unchecked = storage_facts(ledger, staleness.uris(state))
        return Context(
            now=now,
            missing=missing,
            unchecked=tuple(sorted(unchecked.items())),
            corrupted=corrupted_uris(ledger, staleness.present_artifacts(state)),
            versions=current_versions(ledger, staleness.pinned_inputs(state)) if live else {},
        )
    if name == "runs" and live:
        unfinished = state["started"].join(state["finished"].select("run_id"), on="run_id", how="anti")
        return Context(now=now, gone=gone_writers(unfinished))
    return Context(now=now)


def view(ledger: Ledger, name: str, as_of: AsOf = None, *, refresh: bool = True) -> pl.DataFrame:
    """The view ``name`` now (materialised, refreshed, published) or as of a version / time."""
    state, ctx, through = _state_through(ledger, name, as_of, refresh=refresh)
    frame = registry.get(name).present(state, ctx)
    if through is not None:
        _publish(ledger, name, frame, through)
    return frame


def _publish(ledger: Ledger, name: str, frame: pl.DataFrame, through: int) -> None:
    """Keep ``<root>/tables/<name>`` current; a failure to publish never fails a read."""
    try:
        publish.publish(ledger, name, frame, through)
        if name == "models" and (publish.published_through(ledger, "model_stages") or -1) < through:
            events = read_events(ledger, as_of=through, kinds=["model.stage_changed"])
            publish.publish(
                ledger, "model_stages", models.model_stage_history(events.lazy()), through
            )
    except Exception as exc:  # noqa: BLE001 - derived tables: log, the view itself is fine
        log.warning("table %s not published: %s", name, ledger.location.redact(str(exc)))


def run_metrics(
    ledger: Ledger, run_ids: Sequence[str] | None = None, as_of: AsOf = None
) -> pl.DataFrame:
    state, _ = state_of(ledger, "runs", as_of)
    frame = runs.run_metrics(state)
    return frame.filter(pl.col("run_id").is_in(list(run_ids))) if run_ids else frame


# Field aliases per view for search filters (MLflow's names for our columns).
SEARCH_ALIASES = {"runs": runs.ALIASES, "models": models.ALIASES}


def search(
    ledger: Ledger,
    name: str,
    filter: str | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    columns: str | Sequence[str] | None = None,
    as_of: AsOf = None,
) -> pl.DataFrame:
    """A view's rows that pass a filter in MLflow's search syntax (plus OR and parentheses).

    Runs are searched on their typed state (metric values as numbers, one row per run and key)
    and only the rows kept are presented, so a filter over 100k runs does not format 100k JSON
    objects. ``artifact_versions`` rows carry their run's ``metrics``/``params``, so "the best
    registration by a metric" is ``order_by="metrics.auc DESC", limit=1``.
    """
    searching.parse(filter or "")  # a bad filter is bad input, before reading anything
    options: dict[str, Any] = {"order_by": order_by, "limit": limit, "columns": columns}
    if name == "runs":
        if Moment.parse(as_of) is None:
            index, ctx = runs_index(ledger)
            try:
                return runs_search.search_runs(index, ctx, filter, **options)
            except (OSError, pl.exceptions.PolarsError) as exc:
                if not index.stored:
                    raise
                # a stored index that went away under a lazy read (a newer one replaced it)
                log.info("search snapshot unreadable (%s); searching the view's state", exc)
                _INDEXES.clear()
                state, ctx = state_of(ledger, name)
                return runs_search.search_runs(state, ctx, filter, **options)
        state, ctx = state_of(ledger, name, as_of)
        return runs_search.search_runs(state, ctx, filter, **options)
    frame = view(ledger, name, as_of)
    if name == "artifact_versions":
        frame = frame.join(
            view(ledger, "runs", as_of).select("run_id", "metrics", "params"),
            on="run_id",
            how="left",
        )
    return searching.search(frame, filter, aliases=SEARCH_ALIASES.get(name, {}), **options)


def runs_index(ledger: Ledger) -> tuple[runs_search.SearchIndex, Context]:
    """The runs view's search index now, and the context to present it in.

    The view is refreshed first; then the index comes from this process's cache, else from the
    snapshot stored for exactly the events version the view reflects (``engine/snapshot.py``:
    a fresh process does not load the view's state), else it is built from the state and
    stored for the next process. Without write access to the root: built from the events."""
    try:
        through = materialise.refresh(ledger, ["runs"])[0].through
    except StorageError:
        state, ctx = state_of(ledger, "runs")
        return runs_search.SearchIndex.of(state), ctx
    key = (ledger.location.root, str(ledger.log.table.metadata().id), through)
    index = _INDEXES.get(key)
    if index is None:
        index = _stored_index(ledger, through)
        if index is None:
            state, through, _ = materialise.load(ledger, "runs")
            index = runs_search.SearchIndex.of(state)
            snapshot.write(ledger, "runs", through, index.frames())
            key = (*key[:2], through)
        _INDEXES.pop(key, None)
        while len(_INDEXES) >= 2:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[key] = index
    # unfinished runs are those without a status: no join of every run id with the finished ones
    open_runs = (
        index.rows.lazy()
        .filter(pl.col("status").is_null())
        .select("run_id", "writer_host", "writer_pid")
        .collect()
    )
    return index, Context(now=datetime.now(UTC), gone=gone_writers(open_runs))


def _stored_index(ledger: Ledger, through: int) -> runs_search.SearchIndex | None:
    frames = snapshot.read(ledger, "runs", through, list(_FRAMES))
    if frames is None:
        return None
    try:
        return runs_search.SearchIndex.from_frames(frames)
    except (OSError, pl.exceptions.PolarsError) as exc:  # e.g. replaced since: a miss
        log.info("search snapshot of runs at %d unreadable: %s", through, exc)
        return None


_FRAMES = ("rows", "keys", *runs_search.MAPS)
_INDEXES: dict[tuple[str, str, int], runs_search.SearchIndex] = {}  # (root, log id, through)


def metric_history(
    ledger: Ledger, run_id: str, key: str | None = None, as_of: AsOf = None
) -> pl.DataFrame:
    """Every point of a metric (step, value, occurred_at, recorded_at), in log order."""
    events = read_events(
        ledger, as_of=as_of, kinds=["run.metric_logged"], streams=[f"run/{run_id}"]
    )
    return runs.metric_history(events.lazy(), run_id, key)


def refresh(
    ledger: Ledger, names: Sequence[str] | None = None, *, full: bool = False
) -> list[materialise.Refreshed]:
    """Bring the materialised views up to date and republish their tables (``tables/<view>``)."""
    done = materialise.refresh(ledger, names, full=full)
    for item in done:
        if (publish.published_through(ledger, item.view) or -1) < item.through:
            view(ledger, item.view, refresh=False)
    return done


def check(ledger: Ledger, as_of: AsOf = None) -> Report:
    """The integrity gate: stale, missing or orphaned artifacts, uncovered periods of declared
    datasets, and failing ``error`` validations. ``Report.ok`` when there is nothing."""
    frames = {n: view(ledger, n, as_of) for n in ("coverage", "validations", "models")}
    stale_state, stale_ctx = state_of(ledger, "staleness", as_of)
    frames["staleness"] = registry.get("staleness").present(stale_state, stale_ctx)
    runs_state, _ = state_of(ledger, "runs", as_of)
    return Report(
        problems(frames["staleness"], frames["coverage"], frames["validations"]),
        warnings(
            runs_state["started"], runs_state["metrics"], frames["models"],
            dict(stale_ctx.unchecked),
        ),
    )
