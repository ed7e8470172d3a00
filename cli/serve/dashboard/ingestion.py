"""Ingestion: per source, its runs and rows; quarantined rows with their reasons."""

from __future__ import annotations

from typing import Any

from lakeledger.ingest.extract.quarantine import Quarantine
from lakeledger.projections import api
from lakeledger.projections.views.ingest_status import ingest_status
from lakeledger.store import Ledger
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import Page, render


def _page(ledger: Ledger, page: Page) -> dict[str, Any]:
    events = api.read_events(ledger, as_of=page.as_of)
    status = ingest_status(events.lazy())
    source = page.request.query_params.get("source") or None
    quarantined = Quarantine(ledger.location).scan(source).collect()
    wanted = ("source", "quarantined_at", "origin", "row", "reason", "raw", "run_id", "batch")
    columns = [c for c in wanted if c in quarantined.columns]
    if "quarantined_at" in quarantined.columns:
        quarantined = quarantined.sort("quarantined_at", descending=True)
    rows, pager = page.paginate(quarantined.select(columns) if columns else quarantined)
    return {
        "status": status.to_dicts(),
        "status_columns": status.columns,
        "rows": rows,
        "columns": columns,
        "paging": pager,
        "source": source,
        "sources": sorted(status["source"].to_list()) if "source" in status.columns else [],
        "quarantine_total": quarantined.height,
        "reasons": quarantined.group_by("reason").len().sort("len", descending=True).to_dicts()
        if "reason" in quarantined.columns and quarantined.height else [],
        "note": None if page.as_of is None else "quarantine rows are shown as they are now",
    }


async def ingestion_page(request: Request) -> Response:
    return await render(request, "ingestion.html", _page)


ROUTES = [Route("/ingestion", ingestion_page)]
