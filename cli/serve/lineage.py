"""OpenLineage in (``POST /api/v1/lineage``) and the lineage graph out (``GET /api/lineage/...``).

``/api/v1/lineage`` is where OpenLineage's HTTP transport posts by default: one event per request
(or an array, or JSON Lines). Events are validated and mapped by ``lakeledger.ingest.openlineage``
and group-committed like any append; the same event sent twice is stored once.
"""

from __future__ import annotations

from typing import Any

from lakeledger.ingest.openlineage import parse
from lakeledger.projections.views import lineage as view
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import read_body
from .responses import JSONResponse

DEFAULT_DEPTH = 5


async def post_lineage(request: Request) -> Response:
    body = await read_body(request)
    events = parse(body, "body")
    receipt = await request.app.state.services.committer.submit(events)
    return JSONResponse(receipt.to_json())


async def get_lineage(request: Request) -> Response:
    """The graph around ``{namespace}/{name}`` (a dataset or a job), ``depth`` hops up and down."""
    node = request.path_params["node"]
    as_of = request.query_params.get("as_of") or None
    Moment.parse(as_of)
    depth_text = request.query_params.get("depth", str(DEFAULT_DEPTH))
    if not depth_text.isdigit():
        raise InvalidInput(f"depth {depth_text!r} must be a whole number of hops (e.g. depth=2)")
    services = request.app.state.services

    def compute() -> dict[str, Any]:
        with services.read_lock:
            events = services.reader.events(kind=list(view.KINDS), as_of=as_of)
            known = view.nodes(events)
            edges = view.edges(events)
        if node not in known:
            raise LookupError(node)
        graph = view.neighbourhood(edges, node, int(depth_text))
        return {
            "node": {"id": node, "type": known[node]},
            "as_of": as_of,
            "depth": int(depth_text),
            "nodes": [{"id": n, "type": known.get(n, "dataset")} for n in graph["node_ids"]],
            "edges": graph["edges"],
        }

    try:
        return JSONResponse(await run_in_threadpool(compute))
    except LookupError:
        return JSONResponse(
            {"error": f"no lineage recorded for {node!r}" + (f" as of {as_of}" if as_of else "")},
            status_code=404,
        )


ROUTES = [
    Route("/api/v1/lineage", post_lineage, methods=["POST"]),
    Route("/api/lineage/{node:path}", get_lineage, methods=["GET"]),
]
