"""JSON responses encoded by msgspec (datetimes as RFC 3339, like ``--json`` at the CLI)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
