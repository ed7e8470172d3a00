"""Request guards: the bearer token and the body limit, checked before any handler runs.

A pure ASGI middleware, so a refused request never reaches a handler: 401 (token) and 413 (body)
leave nothing written. The token is compared in constant time (``hmac.compare_digest``).
Browsers cannot send a bearer header when following a link, nor from ``EventSource``, so the
dashboard's ``/login`` form stores the same token in an HttpOnly, SameSite=Strict cookie,
checked the same way; a page asked for without it is redirected there. The cookie authorizes
reads only (GET/HEAD: pages, the read API, ``/api/v1/subscribe``'s event stream): a write needs
the header, so no page on another site can make a logged-in browser append (no CSRF). The token
is never taken from the query string, where it would land in access logs and browser history.
"""

from __future__ import annotations

import gzip
import hmac
import zlib

import msgspec
from lakeledger.store.errors import InvalidInput
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/api/health", "/login"})  # "up" for a supervisor; the dashboard's login form
OPEN_PREFIXES = ("/static/",)  # the dashboard's CSS and chart library: no ledger data
READS = frozenset({"GET", "HEAD"})  # what the login cookie may do
COOKIE = b"lakeledger_token"


class BodyTooLarge(InvalidInput):
    """The request body is over the server's ``--max-body`` limit."""


class Guard:
    """``fast``: plain ASGI handlers by (method, path) for the hot paths, called here once the
    request passed the guards, without the framework's per-request routing and middleware."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body: int,
        fast: dict[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.token = f"Bearer {token}".encode() if token else None
        self.max_body = max_body
        self.fast = fast or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        path = scope["path"]
        if self.token is not None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            given = headers.get(b"authorization", b"")
            if not given and scope["method"] in READS:
                given = b"Bearer " + _cookie(headers, COOKIE)
            if not hmac.compare_digest(given, self.token):
                if not path.startswith("/api/") and b"text/html" in headers.get(b"accept", b""):
                    await _redirect(send, "/login")
                    return
                await _answer(
                    send,
                    401,
                    "missing or wrong bearer token (Authorization: Bearer ...)",
                    [(b"www-authenticate", b'Bearer realm="lakeledger"')],
                )
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _answer(send, 413, f"request body over the limit of {self.max_body} bytes")
            return
        handler = self.fast.get((scope["method"], path)) if self.fast else None
        await (handler or self.app)(scope, receive, send)


def _cookie(headers: dict[bytes, bytes], name: bytes) -> bytes:
    for part in headers.get(b"cookie", b"").split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value
    return b""


async def _redirect(send: Send, location: str) -> None:
    await send(
        {"type": "http.response.start", "status": 303,
         "headers": [(b"location", location.encode()), (b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


async def _answer(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_json(send, status, {"error": message}, extra)


async def send_json(
    send: Send, status: int, answer: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A whole JSON response from a plain ASGI handler (no Response object)."""
    body = msgspec.json.encode(answer)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(request: Request) -> bytes:
    """The request body (gzip/deflate decoded, as OpenLineage clients may send), within the limit."""
    return await receive_body(request.scope, request.receive, request.app.state.services.max_body)


async def receive_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body as a plain ASGI handler receives it; ``ClientDisconnect`` if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    encoding = next((v for k, v in scope["headers"] if k == b"content-encoding"), b"identity")
    return decoded(b"".join(chunks), encoding.decode("latin-1"), limit)


def decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` as sent with Content-Encoding ``encoding``, decompressed within ``limit``."""
    encoding = encoding.lower()
    if encoding in ("gzip", "deflate"):
        try:
            decoder = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
            body = decoder.decompress(body, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise InvalidInput(f"body is not valid {encoding}: {exc}") from None
        if len(body) > limit:
            raise BodyTooLarge(f"decompressed request body over the limit of {limit} bytes")
    elif encoding != "identity":
        raise InvalidInput(f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or none)")
    return body
