"""The OpenAPI description of the server, served at ``/api/openapi.json``.

Written out rather than generated: the routes take JSON bodies the event classes define, and a
short hand-kept description says more than generated schemas of msgspec unions would.
"""

from __future__ import annotations

from typing import Any

from lakeledger.store import KINDS
from starlette.requests import Request
from starlette.responses import Response

from .responses import JSONResponse

_ERROR = {
    "description": "bad input: nothing written",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_RECEIPT = {
    "description": "durable: committed before this answer",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
}


def _q(name: str, doc: str, *, repeat: bool = False, integer: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if integer else "string"}
    if repeat:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "required": False, "description": doc, "schema": schema}


def _p(name: str, integer: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer" if integer else "string"},
    }


def _post(
    summary: str,
    body_doc: str,
    params: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": params or [],
            "requestBody": {
                "required": True,
                "description": body_doc,
                "content": {"application/json": {"schema": {}}},
            },
            "responses": {
                "200": _RECEIPT,
                "400": _ERROR,
                "401": {"description": "missing or wrong token"},
                "413": {"description": "body over the limit"},
                **(extra or {}),
            },
        }
    }


def _get(summary: str, params: list[dict[str, Any]], content: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": {"description": "ok", "content": {content: {"schema": {}}}}, "400": _ERROR},
        }
    }


AS_OF = _q("as_of", "a commit version or an ISO time (UTC if no zone)")


def describe() -> dict[str, Any]:
    kinds = sorted(KINDS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lakeledger",
            "version": "1",
            "description": "Append events, send OpenLineage, read views as of any moment, subscribe.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
                "Receipt": {
                    "type": "object",
                    "properties": {
                        "version": {"type": ["integer", "null"]},
                        "appended": {"type": "integer"},
                        "events": {"type": "array"},
                        "skipped": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Event": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": {"enum": kinds},
                        "event_id": {"type": "string"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/events": _post(
                "append events atomically (group-committed)",
                "a JSON array of events, or JSON Lines (application/x-ndjson), as `lakeledger append`",
            ),
            "/api/v1/lineage": _post(
                "receive OpenLineage RunEvents, DatasetEvents, JobEvents",
                "one OpenLineage event, an array, or JSON Lines",
            ),
            "/api/v1/runs": _post("start a run", "{job, experiment, name, params, tags, run_id}"),
            "/api/v1/runs/{run_id}/metrics": _post(
                "log a batch of metrics",
                "[{key, value, step}] or {metrics: {key: value}, step}",
                [_p("run_id")],
            ),
            "/api/v1/runs/{run_id}/params": _post("log params", "{key: value}", [_p("run_id")]),
            "/api/v1/runs/{run_id}/finish": _post("finish a run", "{status, error}", [_p("run_id")]),
            "/api/v1/models/{model}/versions": _post(
                "register the next model version",
                "{artifact_uri, framework, run_id, metrics, params, tags}",
                [_p("model")],
            ),
            "/api/v1/models/{model}/versions/{version}/stage": _post(
                "move a model version to a stage",
                "{stage, expect, reason}",
                [_p("model"), _p("version", True)],
                {"409": {"description": "the expected stage no longer holds: nothing written"}},
            ),
            "/api/v1/validations": _post("record validations", "{target, check, passed, ...} or an array"),
            "/api/views": _get("the views", []),
            "/api/views/{name}": _get(
                "a view, now or as of a moment",
                [
                    _p("name"), AS_OF, _q("where", "COL=VALUE, repeatable", repeat=True),
                    _q("filter", "the search language: metrics.auc > 0.9 and params.lr = '0.05'"),
                    _q("order_by", "e.g. metrics.auc DESC, repeatable", repeat=True),
                    _q("limit", "at most this many rows", integer=True),
                    _q("columns", "comma-separated columns to return"),
                ],
            ),
            "/api/audit/{stream}": _get("the timeline of a stream (model/fraud...)", [_p("stream"), AS_OF]),
            "/api/events": _get(
                "events, oldest first",
                [
                    _q("kind", "a kind or a prefix like model.*", repeat=True),
                    _q("stream", "", repeat=True),
                    _q("since", "events committed after this version", integer=True),
                    AS_OF,
                    _q("limit", "at most this many (max 10000)", integer=True),
                ],
            ),
            "/api/lineage/{namespace}/{name}": _get(
                "the lineage graph around a dataset or job",
                [
                    _p("namespace"),
                    _p("name"),
                    AS_OF,
                    _q("depth", "hops up and down (default 5)", integer=True),
                ],
            ),
            "/api/v1/subscribe": _get(
                "server-sent events as they commit",
                [
                    _q("kind", "a kind or a prefix like model.*", repeat=True),
                    _q("since", "start after this version (default: from now)", integer=True),
                ],
                "text/event-stream",
            ),
            "/api/health": {
                "get": {
                    "summary": "liveness (no token needed)",
                    "security": [],
                    "responses": {"200": {"description": "up"}},
                }
            },
        },
    }


async def endpoint(request: Request) -> Response:
    return JSONResponse(describe())
