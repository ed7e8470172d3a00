"""Models: every version with its stage and aliases; a model's stage history as a timeline."""

from __future__ import annotations

from typing import Any

import polars as pl
from lakeledger.projections import api
from lakeledger.projections.views import models as models_view
from lakeledger.projections.views.models import model_stage_history
from lakeledger.store import Ledger
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import PER_PAGE, Page, main_page, render

COLUMNS = ["model", "version", "stage", "aliases", "run_id", "framework", "metrics", "registered_at",
           "stage_changed_at", "stage_changed_by", "stage_reason"]


def _list(ledger: Ledger, page: Page) -> dict[str, Any]:
    """Every version, newest first per model: ordered on the state's keys, and only the page's
    versions presented (presenting all 10k versions of the 5M-event bench ledger after each
    commit was most of this page's cost)."""
    state = page.current(ledger, "models")
    keys = ["model", "model_version"]
    order = state["versions"].select(keys).sort(keys, descending=[False, True])
    start, pager = page.pages(order.height)
    shown = order.slice(start, PER_PAGE)
    narrowed = {
        "versions": state["versions"].join(shown, on=keys, how="semi"),
        "stages": state["stages"].join(shown, on=keys, how="semi"),
        "aliases": state["aliases"].filter(pl.col("model").is_in(shown["model"].unique().implode())),
    }
    frame = models_view.present(narrowed).sort("model", "version", descending=[False, True])
    return {"rows": frame.to_dicts(), "paging": pager, "columns": COLUMNS}


def _one(ledger: Ledger, page: Page) -> dict[str, Any]:
    model = page.request.path_params["model"]
    versions = page.view(ledger, "models").filter(pl.col("model") == model)
    if not versions.height:
        raise LookupError(f"no model {model!r} at this moment")
    events = api.read_events(ledger, as_of=page.as_of, streams=[f"model/{model}"])
    history = model_stage_history(events.lazy(), model).sort("version", descending=True)
    return {
        "model": model,
        "versions": versions.sort("version", descending=True).to_dicts(),
        "columns": COLUMNS[1:],
        "history": history.to_dicts(),
    }


async def list_models(request: Request) -> Response:
    return await render(request, "models.html", _list)


async def one(request: Request) -> Response:
    return await render(request, "models_one.html", _one)


ROUTES = [Route("/models", list_models), Route("/models/{model:path}", one)]
main_page("/models", "models.html", _list)
