"""The dashboard: the ledger in a browser, as of any moment.

Server-rendered pages (Jinja2, autoescaped) over the read API, one module per page; charts by
uPlot and everything else by plain HTML/CSS, all shipped in ``static/`` (no build step, no CDN:
works offline). Read-only: no page writes to the ledger. Served by ``lakeledger serve`` at ``/``,
behind the same token as the API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from . import artifacts, assets, audit, coverage, ingestion, login, models, runs, validations
from .page import prepare


async def _home(request: Request) -> Response:
    query = request.url.query
    return RedirectResponse("/runs" + (f"?{query}" if query else ""), status_code=307)


ROUTES: list[BaseRoute] = [
    Route("/", _home),
    *login.ROUTES,
    *runs.ROUTES,
    *models.ROUTES,
    *artifacts.ROUTES,
    *coverage.ROUTES,
    *validations.ROUTES,
    *ingestion.ROUTES,
    *audit.ROUTES,
    Mount("/static", app=assets.Assets(directory=assets.DIRECTORY), name="static"),
]
__all__ = ["ROUTES", "prepare"]
