"""JSON responses encoded by msgspec (datetimes as RFC 3339, like ``--json`` at the CLI)."""

from __future__ import annotations

from typing import Any

import msgspec
from lakeledger.store.errors import ConcurrencyError, InvalidInput, LedgerError, NotInitialised, StorageError
from starlette.responses import Response

from .auth import BodyTooLarge

_STATUS: list[tuple[type[LedgerError], int]] = [
    (BodyTooLarge, 413),
    (NotInitialised, 404),
    (InvalidInput, 400),
    (ConcurrencyError, 409),
    (StorageError, 503),
]
UNEXPECTED = "internal error (logged on the server); nothing was written by this request"


def status_of(exc: LedgerError) -> int:
    """Whose fault: 4xx the client's (bad input, conflict, too large), 503 storage's."""
    return next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
