"""Runs: filter and sort, pick runs to compare (params side by side, metric curves on one chart),
and one run's page (params, metrics, tags, artifacts, inputs/outputs, status and its reason)."""

from __future__ import annotations

from typing import Any

import msgspec
import polars as pl
from lakeledger.projections import api
from lakeledger.projections import search as searching
from lakeledger.projections.views import runs as runs_view
from lakeledger.projections.views import runs_search
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import CACHE, PER_PAGE, Page, main_page, render

COLUMNS = ["run_id", "experiment", "job", "name", "status", "started_at", "duration_s", "metrics", "params"]
STARTED = ("run_id", "experiment", "job", "name", "started_at")  # lean columns of the "started" part
METRIC = pl.Struct({"run_id": pl.String, "key": pl.String, "value": pl.Float64, "step": pl.Int64})


def _objects(text: str | None) -> dict[str, Any]:
    return msgspec.json.decode(text) if text else {}


def _order(page: Page) -> tuple[str, bool]:
    column = page.request.query_params.get("sort") or "started_at"
    if column not in COLUMNS:
        raise InvalidInput(f"sort: the runs view has no column {column!r}")
    descending = page.request.query_params.get("desc", "1" if column == "started_at" else "0") == "1"
    return column, descending


def _ordered_ids(ledger: Ledger, page: Page, text: str, column: str, descending: bool) -> pl.Series:
    """The ids of the runs passing the filter, in the page's order: searched and sorted on the
    view's lean rows (no JSON formatting); only a page of them is presented later."""
    if column in runs_view.MAP_COLUMNS or text:  # searched (status, JSON columns...): the whole context
        state, ctx = page.state(ledger, "runs")
        columns = None if column in runs_view.MAP_COLUMNS else f"run_id,{column}"
        rows = runs_search.search_runs(state, ctx, text or None, columns=columns)
    elif column in STARTED:  # the default order: no need to join the other parts, nor the context
        state = page.current(ledger, "runs")
        # eager, and no join when nothing is deleted: at 5M events (100k runs) the lazy
        # anti-join-then-sort plan took 25-45 ms of CPU, this 3-5 ms
        deleted = state["deletion"].filter(pl.col("deletion") == "run.deleted")["run_id"]
        started = state["started"].select(list(dict.fromkeys(["run_id", column, "started_at"])))
        if deleted.len():
            started = started.filter(~pl.col("run_id").is_in(deleted.implode()))
        rows = started.sort("started_at", "run_id")
    else:
        state, ctx = page.state(ledger, "runs")
        rows = runs_view.lean(state, ctx).select("run_id", column).collect()
    rows = rows.sort(column, descending=descending, nulls_last=True, maintain_order=True)
    return rows["run_id"]


def presented(ledger: Ledger, page: Page, run_ids: list[str]) -> pl.DataFrame:
    """The runs view's rows of just these runs, in the order given."""
    order = pl.DataFrame({"run_id": run_ids}, schema={"run_id": pl.String})
    state = page.only(ledger, "runs", run_ids, lambda state: runs_search.only(state, run_ids))
    rows = runs_view.present(state, page.context(ledger, "runs", state))
    return order.join(rows, on="run_id", how="inner", maintain_order="left")


def metric_points(ledger: Ledger, run_ids: list[str], as_of: str | None) -> pl.DataFrame:
    """Every metric point of the runs (key, step, value), as of the page's moment."""
    events = api.read_events(
        ledger, as_of=as_of, kinds=["run.metric_logged"], streams=[f"run/{r}" for r in run_ids]
    )
    if not events.height:
        return pl.DataFrame(schema=METRIC.to_schema())
    decoded = events.select(pl.col("payload").str.json_decode(METRIC).alias("m")).unnest("m")
    return decoded.with_columns(pl.col("step").fill_null(0)).sort("run_id", "key", "step")


def charts(points: pl.DataFrame, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per metric key, one series per run (x = step)."""
    out = []
    for (key,), frame in points.group_by(["key"], maintain_order=True):
        series = [
            {"label": labels.get(run, run[:12]), "x": part["step"].to_list(), "y": part["value"].to_list()}
            for (run,), part in frame.group_by(["run_id"], maintain_order=True)
        ]
        out.append({"title": key, "x": "step", "series": series})
    return sorted(out, key=lambda c: c["title"])


def _list(ledger: Ledger, page: Page) -> dict[str, Any]:
    """The runs, narrowed by the filter language the CLI and the API speak (MLflow's search
    syntax plus OR: ``metrics.auc > 0.9 and params.lr = '0.05'``)."""
    text = (page.request.query_params.get("filter") or "").strip()
    if text:
        searching.parse(text)  # a bad filter is bad input, before reading anything
    column, descending = _order(page)
    key = ("runs-order", text, column, descending, *page.moment_key(ledger))
    ids = CACHE.get(key, lambda: _ordered_ids(ledger, page, text, column, descending))
    start, pager = page.pages(ids.len())
    rows = presented(ledger, page, ids.slice(start, PER_PAGE).to_list()).to_dicts()
    return {"rows": rows, "paging": pager, "columns": COLUMNS, "filter": text}


def _compare(ledger: Ledger, page: Page) -> dict[str, Any]:
    wanted = [r for r in page.request.query_params.getlist("run") if r]
    if len(wanted) < 1:
        raise InvalidInput("run: pick at least one run to compare (?run=ID&run=ID)")
    runs = presented(ledger, page, list(dict.fromkeys(wanted))).to_dicts()
    if not runs:
        raise InvalidInput(f"run: none of {', '.join(wanted)} exists at this moment")
    # UUIDv7 run ids share their leading (time) digits: the tail tells runs apart
    labels = {r["run_id"]: f"{r['name'] or r['job'] or ''} …{r['run_id'][-6:]}".strip() for r in runs}
    params = {r["run_id"]: _objects(r["params"]) for r in runs}
    keys = sorted({k for p in params.values() for k in p})
    table = [{"param": k, **{labels[r]: params[r].get(k) for r in params}} for k in keys]
    return {
        "runs": runs,
        "labels": labels,
        "params": table,
        "param_columns": ["param", *labels.values()],
        "charts": charts(metric_points(ledger, list(labels), page.as_of), labels),
    }


def _one(ledger: Ledger, page: Page) -> dict[str, Any]:
    run_id = page.request.path_params["run_id"]
    frame = presented(ledger, page, [run_id])
    if not frame.height:
        raise LookupError(f"no run {run_id} at this moment")
    run = frame.row(0, named=True)
    artifacts = page.view(ledger, "artifacts").filter(pl.col("run_id") == run_id)
    inputs = sorted({i for row in artifacts["inputs"].to_list() for i in (row or [])})
    return {
        "run": run,
        "fields": {c: run[c] for c in COLUMNS if c not in ("metrics", "params")}
        | {k: run.get(k) for k in ("status_reason", "error", "finished_at", "started_by", "writer_host")},
        "params": sorted(_objects(run["params"]).items()),
        "metrics": sorted(_objects(run.get("metric_stats")).items()),
        "tags": sorted(_objects(run["tags"]).items()),
        "outputs": artifacts.select("name", "uri", "versions", "content_hash", "registered_at").to_dicts(),
        "inputs": inputs,
        "charts": charts(metric_points(ledger, [run_id], page.as_of), {run_id: "this run"}),
    }


async def list_runs(request: Request) -> Response:
    return await render(request, "runs.html", _list)


async def compare(request: Request) -> Response:
    return await render(request, "runs_compare.html", _compare)


async def one(request: Request) -> Response:
    return await render(request, "runs_one.html", _one)


ROUTES = [
    Route("/runs", list_runs),
    Route("/runs/compare", compare),
    Route("/runs/{run_id}", one),
]
main_page("/runs", "runs.html", _list)
