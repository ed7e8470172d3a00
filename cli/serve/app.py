"""The ASGI app: ``create_app(root, ...)`` wires the routes, the guards and shared services.

Starlette (on uvicorn) because it is small, well kept and plain ASGI: routes are functions, SSE is a
``StreamingResponse``, and nothing else is pulled in. Every error reaches the client as JSON
``{"error": ...}`` with a status that says whose fault it is; never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakeledger.store import Ledger, LedgerError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import DEFAULT_MAX_BODY, append, lineage, openapi, read, subscribe
from .auth import Guard
from .committer import GroupCommitter
from .maintainer import MANUAL, Maintainer
from .responses import UNEXPECTED, JSONResponse, error, status_of

log = logging.getLogger("lakeledger.serve")


@dataclass
class Services:
    """What handlers share: the writer (group commit) and a reader ledger, one read at a time."""

    root: str
    storage_options: dict[str, str]
    max_body: int
    reader: Ledger
    committer: GroupCommitter | None = None
    read_lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _waiters: set[asyncio.Event] = field(default_factory=set)
    loop: asyncio.AbstractEventLoop | None = None

    def committed(self, version: int) -> None:
        """Called from the committer thread: wake every subscriber."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    async def wait_commit(self, timeout: float) -> None:
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            self._waiters.discard(waiter)


async def _ledger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LedgerError)
    return error(status_of(exc), str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error(500, UNEXPECTED)


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _stamp_as_server(ledger: Ledger) -> None:
    """Events arriving over HTTP were not made by this process: stamp the host as
    ``<host>/serve`` so the runs view never calls a client's run lost because the server
    restarted (its pid check is for local writers; remote runs fall back to the silence rule)."""
    log_writer = getattr(ledger.log, "writer", None)
    if log_writer is not None and dataclasses.is_dataclass(log_writer):
        ledger.log.writer = dataclasses.replace(log_writer, host=f"{log_writer.host}/serve")


def create_app(
    root: str,
    storage_options: dict[str, str] | None = None,
    *,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    extra_routes: Sequence[BaseRoute] = (),
) -> Any:
    """The server's ASGI app; the ledger at ``root`` is created if missing. ``extra_routes``
    come after the API's (the dashboard mounts itself at ``/`` this way), behind the same token."""
    options = storage_options or {}
    writer = Ledger.open(root, options, settings=MANUAL)  # maintenance: off the tick (maintainer.py)
    _stamp_as_server(writer)
    services = Services(root, options, max_body, Ledger.open(root, options, create=False))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.loop = asyncio.get_running_loop()
        maintainer = await asyncio.to_thread(Maintainer.for_root, root, options, writer.version)

        def committed(version: int) -> None:
            maintainer.committed(version)
            services.committed(version)

        services.committer = GroupCommitter(writer, committed)
        try:
            yield
        finally:
            services.stopping.set()
            await asyncio.to_thread(services.committer.close)  # everything acknowledged is committed
            await asyncio.to_thread(maintainer.close)  # a running task ends; pending ones are skipped
            writer.close()

    routes = [
        Route("/api/health", _health),
        Route("/api/openapi.json", openapi.endpoint),
        *append.ROUTES,
        *lineage.ROUTES,
        *read.ROUTES,
        *subscribe.ROUTES,
        *extra_routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            LedgerError: _ledger_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.services = services
    app.state.token = token  # the dashboard's login form compares against it
    fast = {("POST", "/api/v1/events"): append.fast_post_events(services)}  # the hot path
    return Guard(app, token=token, max_body=max_body, fast=fast)
