"""The dashboard's login: a browser cannot send ``Authorization: Bearer`` when following links, so
the same token the API takes is typed once here and kept in an HttpOnly, same-site cookie."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .page import NAV, TEMPLATES

COOKIE = "lakeledger_token"


def _form(message: str | None = None, status: int = 200) -> HTMLResponse:
    body = TEMPLATES.get_template("login.html").render(nav=NAV, page=None, section="", message=message)
    return HTMLResponse(body, status_code=status)


async def login(request: Request) -> Response:
    token: str | None = getattr(request.app.state, "token", None)
    if request.method == "GET":
        return _form() if token else RedirectResponse("/runs", status_code=303)
    # a one-field urlencoded form: parsed here rather than pulling in python-multipart
    fields = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    given = (fields.get("token") or [""])[0]
    if token is None or not hmac.compare_digest(given.encode(), token.encode()):
        return _form("wrong token: use the value of the server's --token-env variable", 401)
    response = RedirectResponse("/runs", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


ROUTES = [Route("/login", login, methods=["GET", "POST"])]
