"""Server-sent events: ``GET /api/v1/subscribe?kind=model.*&since=V`` streams events as they commit.

Each message is ``id: VERSION:SEQ``, ``event: KIND``, ``data: <the event as /api/events shows it>``.
A client that reconnects with ``Last-Event-ID`` (browsers do it by themselves) resumes after the
last event it got. Commits made through this server wake subscribers at once; commits by other
processes are found by polling the log's version every ``POLL_S``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import polars as pl
from lakeledger.cli.commands.log import event_json
from lakeledger.store.errors import InvalidInput
from lakeledger.store.subscription import POSITION_KIND
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

POLL_S = 1.0
KEEPALIVE_S = 15.0
BATCH = 1000


def _start(request: Request) -> tuple[int, int]:
    last = request.headers.get("last-event-id")
    if last:
        version, _, seq = last.partition(":")
        if version.isdigit() and seq.lstrip("-").isdigit():
            return int(version), int(seq)
        raise InvalidInput(f"Last-Event-ID {last!r} is not VERSION:SEQ as this server sends it")
    since = request.query_params.get("since")
    if since is None or since == "":
        return -1, -1  # from now on
    if not since.isdigit():
        raise InvalidInput(f"since {since!r} must be a version number (events after it are sent)")
    return int(since), 1 << 31


async def subscribe(request: Request) -> Response:
    services = request.app.state.services
    kinds = request.query_params.getlist("kind") or None
    version, seq = _start(request)

    def current() -> int:
        with services.read_lock:
            return services.reader.version

    if version < 0:
        version, seq = await run_in_threadpool(current), 1 << 31

    def fetch(pos: tuple[int, int]) -> list[dict[str, Any]]:
        with services.read_lock:
            frame = services.reader.events(kind=kinds, since=max(pos[0] - 1, 0) or None).filter(
                (pl.col("version") > pos[0]) | (pl.col("seq") > pos[1])
            )
            if not kinds or POSITION_KIND not in kinds:  # subscribers' bookkeeping, unless asked
                frame = frame.filter(pl.col("kind") != POSITION_KIND)
            frame = frame.head(BATCH).collect()
        return [event_json(r) for r in frame.iter_rows(named=True)]

    async def stream() -> AsyncIterator[bytes]:
        pos = (version, seq)
        seen_version = -1
        idle = 0.0
        yield b": subscribed\n\n"
        while not services.stopping.is_set():
            now = await run_in_threadpool(current)
            rows = await run_in_threadpool(fetch, pos) if now != seen_version else []
            if len(rows) < BATCH:
                seen_version = now
            for row in rows:
                pos = (row["commit"]["version"], row["commit"]["seq"])
                data = msgspec.json.encode(row).decode()
                yield f"id: {pos[0]}:{pos[1]}\nevent: {row['kind']}\ndata: {data}\n\n".encode()
            if not rows:
                idle += POLL_S
                if idle >= KEEPALIVE_S:  # a comment line: proxies keep the stream open
                    idle = 0.0
                    yield b": keepalive\n\n"
                await services.wait_commit(POLL_S)
            else:
                idle = 0.0

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [Route("/api/v1/subscribe", subscribe, methods=["GET"])]
