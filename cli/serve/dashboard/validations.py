"""Validations: latest result per (target, check), failing first; a check's history as a chart
of its observed value over time."""

from __future__ import annotations

from typing import Any

import msgspec
import polars as pl
from lakeledger.projections import api
from lakeledger.projections.views.validations import validation_history
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import Page, render

COLUMNS = ["target", "check", "passed", "severity", "observed", "expected", "failed_count", "checked_at",
           "runs", "failures"]


def _list(ledger: Ledger, page: Page) -> dict[str, Any]:
    frame = page.view(ledger, "validations").sort(
        "passed", "target", "check", nulls_last=True
    )
    rows, pager = page.paginate(frame)
    return {"rows": rows, "paging": pager, "columns": COLUMNS}


def _number(text: str | None) -> float | None:
    """An observed value as a number when it is one (charts need numbers)."""
    if text is None:
        return None
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _history(ledger: Ledger, page: Page) -> dict[str, Any]:
    target = page.request.query_params.get("target")
    check = page.request.query_params.get("check")
    if not target or not check:
        raise InvalidInput("target and check: both are needed, e.g. ?target=model/fraud&check=auc_floor")
    events = api.read_events(ledger, as_of=page.as_of, kinds=["validation.recorded"])
    history = validation_history(events.lazy(), target).filter(pl.col("check") == check).sort("version")
    points = [(row["at"].timestamp(), _number(row["observed"])) for row in history.iter_rows(named=True)]
    numeric = [(t, v) for t, v in points if v is not None]
    chart = {
        "title": f"{check} on {target}: observed",
        "x": "time",
        "time": True,
        "series": [{"label": "observed", "x": [t for t, _ in numeric], "y": [v for _, v in numeric]}],
    }
    return {
        "target": target,
        "check": check,
        "chart": chart if numeric else None,
        "rows": history.sort("version", descending=True).to_dicts(),
    }


async def list_validations(request: Request) -> Response:
    return await render(request, "validations.html", _list)


async def history(request: Request) -> Response:
    return await render(request, "validations_history.html", _history)


ROUTES = [Route("/validations", list_validations), Route("/validations/history", history)]
