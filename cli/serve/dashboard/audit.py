"""Audit: the timeline of a stream, and the diff of any view between two moments."""

from __future__ import annotations

from typing import Any

from lakeledger.projections import api, registry
from lakeledger.projections.audit import audit, audit_streams, diff
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import Page, render


def _page(ledger: Ledger, page: Page) -> dict[str, Any]:
    stream = page.request.query_params.get("stream") or ""
    streams = sorted(
        ledger.log.scan(dedupe=False).select("stream").unique().collect()["stream"].to_list()
    )
    timeline: list[dict[str, Any]] = []
    pager = None
    if stream:
        if "/" not in stream:
            raise InvalidInput(f"stream {stream!r} must be KIND/NAME, e.g. model/fraud or dataset/sales")
        events = api.read_events(ledger, as_of=page.as_of, streams=audit_streams(stream))
        timeline, pager = page.paginate(audit(events.lazy(), stream).reverse())
    return {"stream": stream, "streams": streams[:500], "timeline": timeline, "paging": pager,
            "views": sorted(registry.VIEWS)}


def _diff(ledger: Ledger, page: Page) -> dict[str, Any]:
    name = page.request.query_params.get("view") or "models"
    view = registry.get(name)
    since = page.request.query_params.get("since") or ""
    until = page.request.query_params.get("until") or page.as_of
    if not since:
        raise InvalidInput("since: the earlier moment (a version or ISO time) is needed")
    Moment.parse(since)
    before = api.view(ledger, view.name, since)
    after = api.view(ledger, view.name, until)
    changes = diff(before, after, view.key)
    rows, pager = page.paginate(changes)
    return {"view": view.name, "since": since, "until": until or "now", "rows": rows,
            "columns": changes.columns, "paging": pager, "views": sorted(registry.VIEWS)}


async def audit_page(request: Request) -> Response:
    return await render(request, "audit.html", _page)


async def diff_page(request: Request) -> Response:
    return await render(request, "audit_diff.html", _diff)


ROUTES = [Route("/audit", audit_page), Route("/audit/diff", diff_page)]
