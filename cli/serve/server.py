"""Running the app: uvicorn in this process, stopping cleanly on SIGTERM or SIGINT.

On a signal uvicorn stops accepting, lets in-flight requests finish (their events are committed
and answered), then the app's shutdown commits whatever is still queued. Subscribers' streams
are told to end first, or they would hold the shutdown open.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from types import FrameType
from typing import Any

from lakeledger.store.errors import InvalidInput

log = logging.getLogger("lakeledger.serve")
GRACE_S = 30


def serve(
    root: str,
    storage_options: dict[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    token: str | None = None,
    max_body: int,
) -> None:
    try:
        import uvicorn
    except ImportError:
        raise InvalidInput(
            "lakeledger serve needs its extra: pip install 'lakeledger[serve]' (Starlette, uvicorn)"
        ) from None
    from .app import create_app
    from .dashboard import ROUTES as DASHBOARD
    from .dashboard import prepare

    guarded = create_app(root, storage_options, token=token, max_body=max_body, extra_routes=DASHBOARD)
    services = guarded.app.state.services
    prepare(guarded.app.state, services)  # the dashboard's main pages, drawn in the background

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if services.loop is not None:
                services.loop.call_soon_threadsafe(services.stopping.set)
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal after its shutdown; ours is complete: exit 0
            getattr(self, "_captured_signals", []).clear()

    options: dict[str, Any] = {}
    if _has("uvloop"):
        options["loop"] = "uvloop"
    if _has("httptools"):
        options["http"] = "httptools"
    config = uvicorn.Config(
        guarded,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        # no proxy in front by default: a client's X-Forwarded-For must not be believed (and is
        # one more middleware on every request)
        proxy_headers=False,
        timeout_graceful_shutdown=GRACE_S,
        **options,
    )
    server = Server(config)
    print(f"lakeledger serving {root} on http://{host}:{port} (pid {os.getpid()})", flush=True)
    asyncio.run(server.serve()) if sys.platform == "win32" else server.run()
    if not server.started:
        raise InvalidInput(f"could not listen on {host}:{port} (in use? see the message above)")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
