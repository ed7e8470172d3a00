"""Coverage: a calendar per dataset and group (H/D/W/M/Q/Y periods), present / missing / late,
with each partition's rows and bytes on hover.

Which periods are expected and missing comes from the coverage view itself (``missing_periods``);
present cells are the observed, not-removed partitions, mapped to periods by the same period
vocabulary the view uses (``lakeledger.store.partitions``). A cell is late when its partition was
first observed after it was due (the period's end plus the dataset's ``due_after`` grace) although
the dataset was already declared then; earlier periods are a backfill, not late.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl
from lakeledger.projections import api
from lakeledger.projections.views.coverage import grace_of
from lakeledger.store import Ledger, periods
from lakeledger.store.partitions import split_partition
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import CACHE, Page, render

WINDOW = 90  # periods shown per group: the most recent ones; older gaps are counted
DATASETS_PER_PAGE = 5

OBSERVED = pl.Struct(
    {"dataset": pl.String, "partition": pl.String, "rows": pl.Int64, "bytes": pl.Int64, "uri": pl.String}
)


def _observed(ledger: Ledger, as_of: str | None) -> pl.DataFrame:
    """The live partitions: last observation of each, unless removed after it."""
    events = api.read_events(ledger, as_of=as_of, kinds=["partition.observed", "partition.removed"])
    if not events.height:
        schema = {**OBSERVED.to_schema(), "kind": pl.String, "first_seen": pl.Datetime("us", "UTC")}
        return pl.DataFrame(schema=schema)
    frame = events.select(
        "kind", "recorded_at", "version", "seq", pl.col("payload").str.json_decode(OBSERVED).alias("p")
    ).unnest("p")
    first_seen = frame.filter(pl.col("kind") == "partition.observed").group_by("dataset", "partition").agg(
        pl.col("recorded_at").min().alias("first_seen")
    )
    last = frame.sort("version", "seq").group_by("dataset", "partition").last()
    return last.filter(pl.col("kind") == "partition.observed").join(first_seen, on=["dataset", "partition"])


def calendar(row: dict[str, Any], observed: pl.DataFrame) -> list[dict[str, Any]]:
    """Per group: its most recent WINDOW cells, and how many older ones (and gaps) there are."""
    declared_at = row.get("declared_at")
    grace = grace_of(row.get("due_after"))
    """One calendar per group of a dataset: cells in period order with status and facts."""
    freq = row["freq"] or "D"
    keys = tuple(row.get("partition_key") or ["date"])
    cells: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for p in observed.filter(pl.col("dataset") == row["dataset"]).iter_rows(named=True):
        group, moment = split_partition(p["partition"], keys)
        if moment is None:
            continue
        start = periods.truncate(moment, freq)
        due = periods.step(start, freq) + grace
        late = p["first_seen"] > due and declared_at is not None and declared_at < due
        cells[group][periods.label(start, freq)] = {
            "label": periods.label(start, freq),
            "status": "late" if late else "present",
            "rows": p["rows"],
            "bytes": p["bytes"],
            "partition": p["partition"],
            "start": start,
        }
    for missing in row["missing_periods"] or []:
        group, _, label = missing.rpartition("/")
        cells[group].setdefault(label, {"label": label, "status": "missing", "partition": missing})
    out = []
    for group, by_label in sorted(cells.items()):
        ordered = sorted(by_label.values(), key=lambda c: c["label"])
        older = ordered[:-WINDOW]
        out.append({
            "group": group,
            "cells": ordered[-WINDOW:],
            "older": len(older),
            "older_missing": sum(1 for c in older if c["status"] == "missing"),
        })
    return out


def _declared(ledger: Ledger, as_of: str | None) -> dict[str, dict[str, Any]]:
    """Each dataset's partition keys and when it was first declared."""
    shape = pl.Struct({"dataset": pl.String, "partition_key": pl.List(pl.String), "due_after": pl.String})
    frame = (
        api.read_events(ledger, as_of=as_of, kinds=["dataset.declared"])
        .select("recorded_at", pl.col("payload").str.json_decode(shape).alias("p"))
        .unnest("p")
        .group_by("dataset")
        .agg(
            pl.col("partition_key").last(),
            pl.col("due_after").last(),
            pl.col("recorded_at").min().alias("declared_at"),
        )
    )
    return {r["dataset"]: r for r in frame.to_dicts()}


def _page(ledger: Ledger, page: Page) -> dict[str, Any]:
    view = page.view(ledger, "coverage")
    wanted = page.request.query_params.get("dataset")
    if wanted:
        view = view.filter(pl.col("dataset") == wanted)
    rows, pager = page.paginate(view.sort("dataset"), per_page=DATASETS_PER_PAGE)
    observed = CACHE.get(("partitions", *page.moment_key(ledger)), lambda: _observed(ledger, page.as_of))
    declared = CACHE.get(("declared", *page.moment_key(ledger)), lambda: _declared(ledger, page.as_of))
    datasets = []
    for row in rows:
        facts = declared.get(row["dataset"]) or {}
        row = {**row, **{k: facts.get(k) for k in ("partition_key", "due_after", "declared_at")}}
        key = ("calendar", row["dataset"], *page.moment_key(ledger))
        datasets.append({"row": row, "groups": CACHE.get(key, lambda row=row: calendar(row, observed))})
    return {"datasets": datasets, "paging": pager}


async def coverage_page(request: Request) -> Response:
    return await render(request, "coverage.html", _page)


ROUTES = [Route("/coverage", coverage_page)]
