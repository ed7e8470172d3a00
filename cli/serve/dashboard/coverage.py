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
from lakeledger.projections.views import coverage as coverage_view
from lakeledger.projections.views.coverage import grace_of
from lakeledger.store import Ledger, periods
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import CACHE, TEMPLATES, Page, main_page, render

WINDOW = 90  # periods shown per group: the most recent ones; older gaps are counted
DATASETS_PER_PAGE = 5


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
    seen = observed.select("partition", "rows", "bytes", "first_observed")[at].with_columns(
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
            late = c["first_observed"] is not None and c["first_observed"] > due
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
    changed = page.changed(ledger, "coverage", names)  # now: a dict lookup per dataset
    fingerprints: dict[str, Any] = {k: ("version", v) for k, v in changed.items()}
    if len(fingerprints) < len(names):  # as of a moment (or a state moved meanwhile): count rows
        fingerprints |= _fingerprints(state["partitions"], [n for n in names if n not in fingerprints],
                                      "changed_pos")
    datasets = []
    for decl in declared.filter(pl.col("dataset").is_in(names)).iter_rows(named=True):
        name = decl["dataset"]
        freq = decl["freq"] or "D"
        # the row changes with the dataset's declaration and partitions, and with which periods
        # are begun and due now (exactly what the view reads of ``now``)
        due = periods.last_due(freq, ctx.now, grace_of(decl["due_after"]))
        facts = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(decl.items()))
        key = ("coverage-dataset", str(ledger.location.root), page.as_of, facts,
               fingerprints.get(name), periods.truncate(ctx.now, freq), due)

        def build(name: str = name, decl: dict[str, Any] = decl) -> Markup:
            partitions = state["partitions"].filter(pl.col("dataset") == name)
            sub = {"declared": state["declared"].filter(pl.col("dataset") == name), "partitions": partitions}
            row = coverage_view.present(sub, ctx).row(0, named=True)
            row = {**row, "partition_key": decl["partition_key"], "due_after": decl["due_after"],
                   "declared_at": decl["first_declared_at"]}
            html = TEMPLATES.get_template("coverage_dataset.html").render(
                d={"row": row, "groups": calendar(row, partitions.filter(pl.col("present")))}
            )
            return Markup(html)  # autoescaped by its template

        datasets.append(CACHE.get(key, build))
    return {"datasets": datasets, "paging": pager}


async def coverage_page(request: Request) -> Response:
    return await render(request, "coverage.html", _page)


ROUTES = [Route("/coverage", coverage_page)]
main_page("/coverage", "coverage.html", _page)
