"""Coverage: a calendar per dataset and group (H/D/W/M/Q/Y periods), present / missing / late,
with each partition's rows and bytes on hover.

Which periods are expected and missing comes from the coverage view itself (``missing_periods``);
present cells are the observed, not-removed partitions, mapped to periods by the same period
vocabulary the view uses (``lakeledger.store.partitions``). A cell is late when its partition was
first observed after it was due (the period's end plus the dataset's ``due_after`` grace) although
the dataset was already declared then; earlier periods are a backfill, not late.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import polars as pl
from lakeledger.projections import api
from lakeledger.projections.engine.payload import rows as event_rows
from lakeledger.projections.engine.state import Part, State, reduce
from lakeledger.projections.views import coverage as coverage_view
from lakeledger.projections.views.coverage import grace_of
from lakeledger.store import Ledger, periods
from lakeledger.store import events as ev
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .live import Live, from_events
from .page import CACHE, STATES, TEMPLATES, Page, main_page, render

WINDOW = 90  # periods shown per group: the most recent ones; older gaps are counted
DATASETS_PER_PAGE = 5
KINDS = ("dataset.declared", "partition.observed", "partition.removed")


def _seen(events: pl.LazyFrame) -> pl.LazyFrame:
    fields = ["dataset", "partition"]
    observed = event_rows(events, ev.PartitionObserved, [*fields, "rows", "bytes"]).with_columns(
        seen_at=pl.col("recorded_at")
    )
    removed = event_rows(events, ev.PartitionRemoved, fields).with_columns(
        rows=pl.lit(None, pl.Int64), bytes=pl.lit(None, pl.Int64),
        seen_at=pl.lit(None, pl.Datetime("us", "UTC")),
    )
    cols = ["dataset", "partition", "kind", "rows", "bytes", "seen_at", "pos"]
    return pl.concat([observed.select(cols), removed.select(cols)]).sort("pos")


# What the calendar adds to the coverage view's state: each partition's bytes and when it was
# first observed (for "late"), and when each dataset was first declared.
PARTS = (
    Part(
        "first_declared",
        ("dataset",),
        {"declared_at": ("min", "recorded_at")},
        lambda events: event_rows(events, ev.DatasetDeclared, ["dataset"]),
    ),
    Part(
        "seen",
        ("dataset", "partition"),
        {
            "kind": ("last", None),
            "rows": ("last", None),
            "bytes": ("last", None),
            "first_seen": ("min", "seen_at"),
            "changed_pos": ("last", "pos"),
        },
        _seen,
    ),
)
LIVE = Live(PARTS, from_events(PARTS, KINDS))


def _calendar_state(ledger: Ledger, page: Page) -> State:
    key = ("calendar-state", *page.moment_key(ledger))
    if page.as_of is None:
        return STATES.get(key, lambda: LIVE.state(ledger, page.moment_key(ledger)[1]))  # type: ignore[no-any-return]
    events = lambda: api.read_events(ledger, as_of=page.as_of, kinds=KINDS)  # noqa: E731
    return STATES.get(key, lambda: reduce(PARTS, events().lazy()))  # type: ignore[no-any-return]


@lru_cache(maxsize=1 << 18)
def _cell(partition: str, keys: tuple[str, ...], freq: str) -> tuple[str, str, datetime] | None:
    """(group, period label, period start) of a partition; None when it names no period."""
    cell = coverage_view.period_of(partition, keys, freq)
    if cell is None:
        return None
    group, start = cell
    return group, periods.label(start, freq), start


def calendar(row: dict[str, Any], observed: pl.DataFrame) -> list[dict[str, Any]]:
    """Per group: its most recent WINDOW cells in period order (present / late / missing, with
    the partition's facts), and how many older ones (and gaps) there are. Only the shown cells
    are built as dicts; the rest is counted."""
    declared_at = row.get("declared_at")
    grace = grace_of(row.get("due_after"))
    freq = row["freq"] or "D"
    keys = tuple(row.get("partition_key") or ["date"])
    parsed = [_cell(p, keys, freq) for p in observed["partition"].to_list()]
    at = [i for i, c in enumerate(parsed) if c is not None]
    seen = observed.select("partition", "rows", "bytes", "first_seen")[at].with_columns(
        group=pl.Series([parsed[i][0] for i in at], dtype=pl.String),  # type: ignore[index]
        label=pl.Series([parsed[i][1] for i in at], dtype=pl.String),  # type: ignore[index]
        at=pl.Series(at, dtype=pl.Int64),
    )
    gaps = [m.rpartition("/") for m in row["missing_periods"] or []]
    missing = pl.DataFrame(
        {"group": [g for g, _, _ in gaps], "label": [label for _, _, label in gaps],
         "partition": row["missing_periods"] or []},
        schema={"group": pl.String, "label": pl.String, "partition": pl.String},
    )
    everything = (
        pl.concat([seen.unique(["group", "label"], keep="last", maintain_order=True), missing],
                  how="diagonal_relaxed")
        .unique(["group", "label"], keep="first", maintain_order=True)
        .with_columns(missing=pl.col("at").is_null())
        .sort("group", "label")
    )
    out = []
    for (group,), cells_of in everything.group_by(["group"], maintain_order=True):
        older = cells_of.head(max(0, cells_of.height - WINDOW))
        shown = []
        for c in cells_of.tail(WINDOW).iter_rows(named=True):
            if c["missing"]:
                shown.append({"label": c["label"], "status": "missing", "partition": c["partition"]})
                continue
            start = parsed[c["at"]][2]  # type: ignore[index]
            due = periods.step(start, freq) + grace
            late = c["first_seen"] is not None and c["first_seen"] > due
            late = late and declared_at is not None and declared_at < due
            shown.append({
                "label": c["label"],
                "status": "late" if late else "present",
                "rows": c["rows"],
                "bytes": c["bytes"],
                "partition": c["partition"],
                "start": start,
            })
        out.append({
            "group": group,
            "cells": shown,
            "older": older.height,
            "older_missing": int(older["missing"].sum()),
        })
    return out


def _fingerprints(frame: pl.DataFrame, datasets: list[str], column: str) -> dict[str, tuple[int, int]]:
    """Per dataset (rows, newest change): changes whenever any of its rows changes (a change
    is a newer log position; a new partition is one more row)."""
    counts = (
        frame.filter(pl.col("dataset").is_in(datasets))
        .group_by("dataset")
        .agg(pl.len().alias("n"), pl.col(column).max().alias("last"))
    )
    return {d: (n, last) for d, n, last in counts.iter_rows()}


def _page(ledger: Ledger, page: Page) -> dict[str, Any]:
    state, ctx = page.state(ledger, "coverage")
    declared = state["declared"].sort("dataset")
    wanted = page.request.query_params.get("dataset")
    if wanted:
        declared = declared.filter(pl.col("dataset") == wanted)
    start, pager = page.pages(declared.height, per_page=DATASETS_PER_PAGE)
    names = declared.slice(start, DATASETS_PER_PAGE)["dataset"].to_list()
    seen = _calendar_state(ledger, page)
    coverage_fp = _fingerprints(state["partitions"], names, "changed_pos")
    seen_fp = _fingerprints(seen["seen"], names, "changed_pos")
    first = dict(seen["first_declared"].select("dataset", "declared_at").iter_rows())
    datasets = []
    for decl in declared.filter(pl.col("dataset").is_in(names)).iter_rows(named=True):
        name = decl["dataset"]
        freq = decl["freq"] or "D"
        # the row changes with the dataset's declaration and partitions, and with which periods
        # are begun and due now (exactly what the view reads of ``now``)
        due = periods.last_due(freq, ctx.now, grace_of(decl["due_after"]))
        facts = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(decl.items()))
        key = ("coverage-dataset", str(ledger.location.root), page.as_of, facts, first.get(name),
               coverage_fp.get(name), seen_fp.get(name), periods.truncate(ctx.now, freq), due)

        def build(name: str = name, decl: dict[str, Any] = decl) -> Markup:
            sub = {
                "declared": state["declared"].filter(pl.col("dataset") == name),
                "partitions": state["partitions"].filter(pl.col("dataset") == name),
            }
            row = coverage_view.present(sub, ctx).row(0, named=True)
            row = {**row, "partition_key": decl["partition_key"], "due_after": decl["due_after"],
                   "declared_at": first.get(name)}
            live = seen["seen"].filter((pl.col("dataset") == name) & (pl.col("kind") == "partition.observed"))
            html = TEMPLATES.get_template("coverage_dataset.html").render(
                d={"row": row, "groups": calendar(row, live)}
            )
            return Markup(html)  # autoescaped by its template

        datasets.append(CACHE.get(key, build))
    return {"datasets": datasets, "paging": pager}


async def coverage_page(request: Request) -> Response:
    return await render(request, "coverage.html", _page)


ROUTES = [Route("/coverage", coverage_page)]
main_page("/coverage", "coverage.html", _page)
