"""The append API: ``POST /api/v1/events`` and typed helpers for runs, metrics, models, validations.

Bodies are validated exactly as ``lakeledger append`` validates a file (the same function, so
one rule set for every door), then group-committed (``committer.py``); the answer comes after
the events are durable. Typed helpers build the same event objects from a smaller body, so a
client in any language can start a run or move a model's stage without knowing the envelope.
"""

from __future__ import annotations

import functools
import logging
import operator
from typing import Any

import msgspec
from lakeledger.cli.commands.log import parse_lines
from lakeledger.store.errors import InvalidInput, LedgerError
from lakeledger.store.events import KINDS, Event
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import read_body, receive_body, send_json
from .committer import Receipt
from .responses import UNEXPECTED, JSONResponse, status_of

log = logging.getLogger("lakeledger.serve")

_encode = msgspec.json.Encoder().encode
_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


# a body larger than this is parsed on a worker thread: the event loop keeps answering meanwhile
OFF_LOOP_BYTES = 64 * 1024


def _strict(cls: type[Event]) -> type[Event]:
    """``cls`` refusing unknown fields, as ``build(strict=True)`` does (same tag and fields)."""
    return type(cls.__name__, (cls,), {"__module__": __name__}, forbid_unknown_fields=True)


# dataset.declared takes any schema shape people write and normalises it: parse_lines only
_STRICT = {_strict(cls): cls for kind, cls in KINDS.items() if kind != "dataset.declared"}
_decode_events = msgspec.json.Decoder(list[functools.reduce(operator.or_, _STRICT)], strict=True).decode  # type: ignore[valid-type]


def _typed_array(text: bytes) -> list[Event] | None:
    """A JSON array of valid events decoded straight into them (one pass in C, not a dict per
    event checked in Python); None when anything is wrong or unusual: then ``parse_lines``
    decides, and names the element and field. It accepts exactly what ``build(strict=True)``
    accepts, and the events are of the vocabulary's own classes (admission dispatches on them)."""
    try:
        twins = _decode_events(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return [msgspec.convert(e, _STRICT[type(e)], from_attributes=True) for e in twins] or None


def events_from_body(body: bytes, source: str) -> tuple[list[Event], list[str]]:
    """A JSON array or JSON Lines (one event per line) -> built events (all or nothing) and
    where each came from (``body:N``). Admission, the rest of ``lakeledger append``'s checks,
    happens once, in the commit (``Ledger.append``), whose refusals name these places."""
    text = body.strip()
    if not text:
        raise InvalidInput(f"{source}: empty body; send a JSON array of events or JSON Lines")
    if text[:1] == b"[":
        events = _typed_array(text)
        if events is not None:
            return events, [f"{source}:{n}" for n in range(1, len(events) + 1)]
        try:  # each element's own bytes, not decoded into objects (parse_lines decodes them)
            lines: list[bytes] | list[str] = [bytes(item) for item in _decode_items(text)]
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"{source}: not valid JSON ({exc})") from None
    else:
        try:
            lines = text.decode("utf-8").split("\n")  # not splitlines: U+2028 is valid inside JSON
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{source}: body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return _parse(lines, source)


def _parse(lines: list[bytes] | list[str], source: str) -> tuple[list[Event], list[str]]:
    events = parse_lines(lines, None, source)
    if not events:
        raise InvalidInput(f"{source}: no events in the body")
    return events, [f"{source}:{n}" for n, line in enumerate(lines, start=1) if line.strip()]


async def _commit(
    request: Request, parsed: tuple[list[Event], list[str]], status: int = 200, *, given: bool = True
) -> Response:
    """``given=False``: the body named no event id, so every id is new and the log need not be
    searched for it (that search is a good part of a small commit's cost)."""
    events, wheres = parsed
    receipt = await request.app.state.services.committer.submit(events, check_ids=given, wheres=wheres)
    return JSONResponse(receipt.to_json(), status_code=status)


async def post_events(request: Request) -> Response:
    body = await read_body(request)
    receipt = await _append(request.app.state.services, body)
    return JSONResponse(receipt.to_json())


async def _append(services: Any, body: bytes) -> Receipt:
    if len(body) > OFF_LOOP_BYTES:
        events, wheres = await run_in_threadpool(events_from_body, body, "body")
    else:
        events, wheres = events_from_body(body, "body")
    # a key spelled otherwise than "event_id" would need a \u escape: then search the log anyway
    given = b'"event_id"' in body or b"\\u" in body
    return await services.committer.submit(events, check_ids=given, wheres=wheres)  # type: ignore[no-any-return]


def fast_post_events(services: Any) -> ASGIApp:
    """``POST /api/v1/events`` as a plain ASGI handler, which ``Guard`` calls directly: the
    same parsing, commit, answer and errors as the route above, without a Request object,
    routing and the middleware stack on every request (the most frequent request there is)."""

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await receive_body(scope, receive, services.max_body)
            status, answer = 200, (await _append(services, body)).to_json()
        except ClientDisconnect:
            return  # nobody to answer; nothing was submitted
        except LedgerError as exc:
            status, answer = status_of(exc), {"error": str(exc)}
        except Exception:  # as the app's handler: logged, never a traceback to a client
            log.exception("unexpected error on POST /api/v1/events")
            status, answer = 500, {"error": UNEXPECTED}
        await send_json(send, status, answer)

    return handle


async def _json(request: Request) -> Any:
    body = await read_body(request)
    if not body.strip():
        return {}
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"body: not valid JSON ({exc})") from None


async def _object(request: Request) -> dict[str, Any]:
    value = await _json(request)
    if not isinstance(value, dict):
        raise InvalidInput(f"body: expected a JSON object, got {type(value).__name__}")
    return value


def _typed(request: Request, objects: list[dict[str, Any]]) -> tuple[list[Event], list[str]]:
    return _parse([_encode(o).decode() for o in objects], "body")


async def start_run(request: Request) -> Response:
    """Body: ``{job, experiment, name, params, tags, run_id}`` (all optional)."""
    fields = await _object(request)
    events, wheres = _typed(request, [{"kind": "run.started", **fields}])
    receipt = await request.app.state.services.committer.submit(events, wheres=wheres)
    return JSONResponse({"run_id": events[0].run_id, **receipt.to_json()}, status_code=201)  # type: ignore[attr-defined]


async def log_metrics(request: Request) -> Response:
    """Body: ``[{key, value, step}]``, or ``{"metrics": {key: value}, "step": N}``."""
    run_id = request.path_params["run_id"]
    value = await _json(request)
    if isinstance(value, dict):
        step = value.get("step", 0)
        metrics = value.get("metrics")
        if not isinstance(metrics, dict):
            raise InvalidInput('body: give {"metrics": {key: value}, "step": N} or [{key, value, step}]')
        value = [{"key": k, "value": v, "step": step} for k, v in metrics.items()]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise InvalidInput("body: metrics are a JSON array of {key, value, step} objects")
    objects = [{"kind": "run.metric_logged", **m, "run_id": run_id} for m in value]
    return await _commit(request, _typed(request, objects), given=any("event_id" in m for m in value))


async def log_params(request: Request) -> Response:
    """Body: ``{key: value, ...}``."""
    run_id = request.path_params["run_id"]
    params = await _object(request)
    objs = [{"kind": "run.param_logged", "run_id": run_id, "key": k, "value": v} for k, v in params.items()]
    return await _commit(request, _typed(request, objs))


async def finish_run(request: Request) -> Response:
    """Body: ``{status: success|failed|aborted, error}`` (status defaults to success)."""
    fields = await _object(request)
    fields.setdefault("status", "success")
    return await _commit(
        request,
        _typed(request, [{"kind": "run.finished", **fields, "run_id": request.path_params["run_id"]}]),
    )


async def register_model_version(request: Request) -> Response:
    """Body: ``{artifact_uri, framework, run_id, metrics, params, tags}``; the answer has the
    version the store assigned (``model_version``)."""
    fields = await _object(request)
    parsed = _typed(
        request, [{"kind": "model.version_registered", **fields, "model": request.path_params["model"]}]
    )
    return await _commit(request, parsed, 201)


async def set_stage(request: Request) -> Response:
    """Body: ``{stage, expect, reason}``. With ``expect`` (a stage, or null for none yet) the
    change happens only from that stage; otherwise 409 and nothing written."""
    fields = await _object(request)
    obj = {
        "kind": "model.stage_changed",
        "model": request.path_params["model"],
        "version": request.path_params["version"],
        **{k: v for k, v in fields.items() if k != "expect"},
    }
    if "expect" in fields:
        obj["previous_stage"] = "None" if fields["expect"] is None else fields["expect"]
    return await _commit(request, _typed(request, [obj]))


async def record_validations(request: Request) -> Response:
    """Body: one ``{target, check, passed, severity, observed, expected, ...}`` or an array."""
    value = await _json(request)
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, dict) for v in items):
        raise InvalidInput("body: a validation is a JSON object {target, check, passed, ...}")
    return await _commit(request, _typed(request, [{"kind": "validation.recorded", **v} for v in items]))


ROUTES = [
    Route("/api/v1/events", post_events, methods=["POST"]),
    Route("/api/v1/runs", start_run, methods=["POST"]),
    Route("/api/v1/runs/{run_id}/metrics", log_metrics, methods=["POST"]),
    Route("/api/v1/runs/{run_id}/params", log_params, methods=["POST"]),
    Route("/api/v1/runs/{run_id}/finish", finish_run, methods=["POST"]),
    Route("/api/v1/models/{model}/versions", register_model_version, methods=["POST"]),
    Route("/api/v1/models/{model}/versions/{version:int}/stage", set_stage, methods=["POST"]),
    Route("/api/v1/validations", record_validations, methods=["POST"]),
]
