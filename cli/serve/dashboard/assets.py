"""The dashboard's static files (CSS, JS, uPlot), served so a browser fetches each one once.

Pages link every asset with a digest of the shipped files in its URL (``/static/x.js?v=...``)
and such a URL is served as immutable: a navigation then costs the browser no request per asset
(without it, each page asked the server again for 4 files, answered 304, on every load). A new
package version has new files, hence a new digest and new URLs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.datastructures import URL
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DIRECTORY = Path(__file__).parent / "static"


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


DIGEST = _digest(DIRECTORY)


def url(name: str) -> str:
    """The URL a page links ``name`` (a file in ``static/``) by."""
    return f"/static/{name}?v={DIGEST}"


class Assets(StaticFiles):
    """``StaticFiles`` that lets a browser keep a versioned URL's file for good."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = URL(scope=scope).query == f"v={DIGEST}"
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        return response
