"""The read API: views, audit trails and events as JSON, now or as of any moment.

Reads run in a worker thread on the server's reader ledger, one at a time (a view refresh
writes its materialised table); the event loop keeps accepting appends meanwhile.
"""

from __future__ import annotations

from typing import Any

from lakeledger.cli.commands.log import event_json
from lakeledger.cli.commands.views import _json_rows, _where
from lakeledger.projections import api, registry
from lakeledger.projections import search as searching
from lakeledger.projections.audit import audit, audit_streams
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .responses import JSONResponse

MAX_EVENTS = 10_000


async def _read(request: Request, fn: Any) -> Response:
    services = request.app.state.services

    def locked() -> Any:
        with services.read_lock:
            return fn(services.reader)

    return JSONResponse(await run_in_threadpool(locked))


async def list_views(request: Request) -> Response:
    return JSONResponse([{"name": v.name, "doc": v.doc, "key": list(v.key)} for v in registry.VIEWS.values()])


def _known(request: Request, *names: str) -> None:
    """An unknown query parameter is refused: a misspelt ``filter`` silently ignored would
    answer every row as if it matched."""
    unknown = sorted(set(request.query_params.keys()) - set(names))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {', '.join(names)}")


async def get_view(request: Request) -> Response:
    """``?as_of=`` a version or ISO time; ``?where=COL=VALUE`` (repeatable) as at the CLI;
    ``?filter=`` (the search language), ``?order_by=`` (repeatable), ``?limit=``, ``?columns=``
    as ``--filter``, ``--order-by``, ``--limit``, ``--columns``."""
    _known(request, "as_of", "where", *_SEARCH)
    view = registry.get(request.path_params["name"])
    as_of = request.query_params.get("as_of") or None
    Moment.parse(as_of)
    where = request.query_params.getlist("where")
    options: dict[str, Any] = {
        "order_by": request.query_params.getlist("order_by") or None,
        "limit": _int(request, "limit"),
        "columns": request.query_params.get("columns") or None,
    }
    text = request.query_params.get("filter") or None
    searching.parse(text or "")  # a bad filter is a 400 pointing at the token, before any read

    def compute(ledger: Any) -> Any:
        if text is None and all(v is None for v in options.values()):
            return _json_rows(_where(api.view(ledger, view.name, as_of), where))
        return _json_rows(_where(api.search(ledger, view.name, text, as_of=as_of, **options), where))

    return await _read(request, compute)


_SEARCH = ("filter", "order_by", "limit", "columns")


async def get_audit(request: Request) -> Response:
    _known(request, "as_of")
    stream = request.path_params["stream"]
    if "/" not in stream:
        raise InvalidInput(f"stream {stream!r} must be KIND/NAME, e.g. model/fraud or dataset/sales")
    as_of = request.query_params.get("as_of") or None
    Moment.parse(as_of)

    def compute(ledger: Any) -> Any:
        events = api.read_events(ledger, as_of=as_of, streams=audit_streams(stream))
        return _json_rows(audit(events.lazy(), stream))

    return await _read(request, compute)


def _int(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise InvalidInput(f"{name} {text!r} must be a non-negative whole number")
    return int(text)


async def get_events(request: Request) -> Response:
    """``?kind=`` (repeatable, ``model.*`` prefixes), ``?stream=``, ``?since=V``, ``?as_of=``,
    ``?limit=N`` (default and maximum 10,000, oldest first; page on with ``since``)."""
    _known(request, "kind", "stream", "since", "limit", "as_of")
    kinds = request.query_params.getlist("kind") or None
    streams = request.query_params.getlist("stream") or None
    since = _int(request, "since")
    limit = min(_int(request, "limit") or MAX_EVENTS, MAX_EVENTS)
    as_of = request.query_params.get("as_of") or None
    Moment.parse(as_of)

    def compute(ledger: Any) -> Any:
        frame = ledger.events(kind=kinds, stream=streams, since=since, as_of=as_of).head(limit).collect()
        return [event_json(r) for r in frame.iter_rows(named=True)]

    return await _read(request, compute)


ROUTES = [
    Route("/api/views", list_views, methods=["GET"]),
    Route("/api/views/{name}", get_view, methods=["GET"]),
    Route("/api/audit/{stream:path}", get_audit, methods=["GET"]),
    Route("/api/events", get_events, methods=["GET"]),
]
