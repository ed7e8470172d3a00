"""What every dashboard page shares: the as-of moment, reads on the server's reader ledger,
pagination on the server, and rendering through autoescaped Jinja2 templates.

Pages are read-only: they call the projections' read API and never the writer. The as-of moment
travels in the URL (``?as_of=``), so a link shows the same past state to anyone.

Cost follows the page, not the ledger: at "now" a page reads views' states kept current commit by
commit in memory (``live.py``) and presents only the rows it shows; a page's HTML is rendered once
per URL and ledger version; past moments are computed from the events and cached per moment.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import polars as pl
from jinja2 import Environment, FileSystemLoader, select_autoescape
from lakeledger.cli.output import cell
from lakeledger.projections import api, registry
from lakeledger.projections.engine.state import Context, State
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from . import assets, warm
from .live import Live, view_loader

HERE = Path(__file__).parent
PER_PAGE = 50
NAV = [
    ("runs", "Runs"),
    ("models", "Models"),
    ("artifacts", "Artifacts"),
    ("coverage", "Coverage"),
    ("validations", "Validations"),
    ("ingestion", "Ingestion"),
    ("audit", "Audit"),
]


TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["cell"] = cell
TEMPLATES.filters["json"] = lambda value: msgspec.json.encode(value).decode()
TEMPLATES.globals["asset"] = assets.url


WAIT_S = 30.0  # longest wait for a page part another thread computes


class Cache:
    """Pages computed from one ledger version are reused until the ledger moves: a view at "now"
    is keyed by the version it reflects, a past moment by the moment itself. Small and bounded.
    A key being computed by one thread (a request, the warmer) is waited for by the others."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._pending: dict[tuple[Any, ...], threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        mine: threading.Event | None = None
        for _ in range(2):
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                pending = self._pending.get(key)
                if pending is None:
                    mine = self._pending[key] = threading.Event()
                    break
            # computed elsewhere: found on the next pass; after WAIT_S (or if that failed),
            # computed here as well rather than risk waiting on a waiter
            pending.wait(WAIT_S)
        try:
            value = compute()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            if mine is not None:
                with self._lock:
                    self._pending.pop(key, None)
                mine.set()


CACHE = Cache()
STATES = Cache(size=4)  # whole view states are large: only the last few moments
LIVE: dict[str, Live] = {}  # view name -> its state now, kept current commit by commit


class Page:
    """One request's view of the ledger: its as-of moment and links that keep it."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._version: int | None = None
        self.as_of = request.query_params.get("as_of") or None
        if self.as_of is not None:
            try:
                Moment.parse(self.as_of)
            except InvalidInput as exc:
                raise InvalidInput(f"as_of: {exc}") from None

    def moment_key(self, ledger: Ledger) -> tuple[Any, ...]:
        """What a result computed for this page depends on: the root and the moment (the
        ledger's version, read once per request)."""
        if self._version is None:
            self._version = ledger.version
        return (str(ledger.location.root), self.as_of if self.as_of is not None else self._version)

    def view(self, ledger: Ledger, name: str) -> pl.DataFrame:
        """A view as of the page's moment, computed once per ledger version (now: presented
        from its live state; large views present only the rows a page shows, see ``state``)."""
        if self.as_of is not None:
            return CACHE.get((name, *self.moment_key(ledger)), lambda: api.view(ledger, name, self.as_of))

        def present() -> pl.DataFrame:
            state, ctx = self.state(ledger, name)
            return registry.get(name).present(state, ctx)

        return CACHE.get((name, *self.moment_key(ledger)), present)  # type: ignore[no-any-return]

    def state(self, ledger: Ledger, name: str) -> tuple[State, Context]:
        """A view's typed state (and the context to present it in) as of the page's moment,
        loaded once per ledger version: pages present only the rows they show from it, so
        their cost follows the page size, not the number of rows in the view."""
        if self.as_of is not None:
            key = ("state", name, *self.moment_key(ledger))
            return STATES.get(key, lambda: api.state_of(ledger, name, self.as_of))  # type: ignore[no-any-return]
        state = self.current(ledger, name)
        key = ("context", name, *self.moment_key(ledger))
        return state, CACHE.get(key, lambda: api.context_now(ledger, name, state))

    def current(self, ledger: Ledger, name: str) -> State:
        """The view's state as of the page's moment, without its context: now, the context of
        the whole state costs a pass over it (the runs' writers: ~20 ms CPU at 100k runs) that
        a page presenting a few rows does not need (``context``)."""
        if self.as_of is not None:
            return self.state(ledger, name)[0]
        key = ("state", name, *self.moment_key(ledger))
        return STATES.get(key, lambda: self._now(ledger, name))  # type: ignore[no-any-return]

    def context(self, ledger: Ledger, name: str, shown: State) -> Context:
        """The context to present ``shown`` (the state restricted to the rows a page shows) in:
        now, checked for those rows only (a run's status needs its own writer's liveness)."""
        if self.as_of is not None:
            return self.state(ledger, name)[1]
        return api.context_now(ledger, name, shown)

    def only(self, ledger: Ledger, name: str, keys: list[str], narrow: Callable[[State], State]) -> State:
        """The view's state at the page's moment restricted to some keys (the rows a page shows):
        now, through the live state's index; at a past moment, by ``narrow``."""
        if self.as_of is not None:
            return narrow(self.current(ledger, name))
        self.current(ledger, name)  # loaded and brought to this version
        return LIVE[name].only(ledger, self.moment_key(ledger)[1], keys)

    def changed(self, ledger: Ledger, name: str, keys: list[str]) -> dict[str, int]:
        """Now: per first key of the view's state, a version that changes when its rows do
        (``Live.changed``; keys it cannot vouch for are left out). As of a moment: nothing."""
        if self.as_of is not None:
            return {}
        self.current(ledger, name)
        return LIVE[name].changed(ledger, self.moment_key(ledger)[1], keys)

    def _now(self, ledger: Ledger, name: str) -> State:
        held = LIVE.get(name)
        if held is None:
            held = LIVE[name] = Live(registry.get(name).parts, view_loader(name))
        return held.state(ledger, self.moment_key(ledger)[1])

    def link(self, path: str, **params: Any) -> str:
        """``path`` with ``params`` and the page's as-of moment (unless overridden)."""
        query = {k: v for k, v in params.items() if v is not None and v != ""}
        if self.as_of is not None and "as_of" not in params:
            query["as_of"] = self.as_of
        pairs = [(k, x) for k, v in query.items() for x in (v if isinstance(v, list) else [v])]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def here(self, **changes: Any) -> str:
        """This page's URL with some query parameters changed (pagination, sorting)."""
        params: dict[str, Any] = {}
        for key in self.request.query_params:
            values = self.request.query_params.getlist(key)
            params[key] = values if len(values) > 1 else values[0]
        params.update(changes)
        return self.link(self.request.url.path, **params)

    def int_param(self, name: str, default: int, *, low: int = 1) -> int:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{name}: {raw!r} is not a whole number") from None
        if value < low:
            raise InvalidInput(f"{name}: must be at least {low}, got {value}")
        return value

    def pages(self, total: int, per_page: int = PER_PAGE) -> tuple[int, dict[str, Any]]:
        """(offset of this page's first row, the pager) for ``total`` rows."""
        pages = max(1, math.ceil(total / per_page))
        page = min(self.int_param("page", 1), pages)
        pager = {
            "page": page,
            "pages": pages,
            "total": total,
            "prev": self.here(page=page - 1) if page > 1 else None,
            "next": self.here(page=page + 1) if page < pages else None,
        }
        return (page - 1) * per_page, pager

    def paginate(
        self, frame: pl.DataFrame, per_page: int = PER_PAGE
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of rows, cut on the server: a page never carries a whole large table."""
        start, pager = self.pages(frame.height, per_page)
        return frame.slice(start, per_page).to_dicts(), pager


def draw(
    ledger: Ledger, page: Page, template: str, build: Callable[[Ledger, Page], Mapping[str, Any]]
) -> tuple[str, int, bool]:
    """The page's HTML, the ledger version it shows and whether it was drawn now (False: found
    in the cache): the same URL at the same version is the same page, drawn once (by a request
    or by the warmer, see ``warm.py``)."""
    request = page.request
    moment = page.moment_key(ledger)
    version = moment[1] if page.as_of is None else ledger.version
    key = ("html", template, request.url.path, request.url.query, moment[0], page.as_of, version)
    section = template.split("_")[0].removesuffix(".html")
    drawn = []

    def compute() -> str:
        data = dict(build(ledger, page))
        data["latest_version"] = version
        drawn.append(True)
        return TEMPLATES.get_template(template).render(page=page, nav=NAV, section=section, **data)

    return CACHE.get(key, compute), version, bool(drawn)


async def render(
    request: Request, template: str, build: Callable[[Ledger, Page], Mapping[str, Any]]
) -> HTMLResponse:
    """Build the page's data in a worker thread (one read at a time on the reader ledger, as the
    read API does), then render it with the shared frame (navigation, as-of control). A page at
    "now" is kept warm afterwards: drawn again in the background after each new version."""
    started = time.perf_counter()
    try:
        page = Page(request)
    except InvalidInput as exc:
        return error_page(400, str(exc))
    services = request.app.state.services

    def locked() -> tuple[str, int, bool]:
        with warm.REQUESTS, services.read_lock:  # the warmer waits while requests are served
            return draw(services.reader, page, template, build)

    try:
        body, version, drawn = await run_in_threadpool(locked)
    except LookupError as exc:
        return error_page(404, str(exc).strip("'\""))
    except InvalidInput as exc:  # bad filter, sort, moment...: say which and how to fix it
        return error_page(400, str(exc))
    if page.as_of is None:
        scope = {k: v for k, v in request.scope.items() if k not in ("app", "router", "endpoint")}
        if _keep_warm(request.app.state, services, scope, template, build, version):
            prepare(request.app.state, services, scope, skip=request.url.path)
    elapsed_ms = (time.perf_counter() - started) * 1000
    timing = f'app;dur={elapsed_ms:.1f}, cache;desc="{"miss" if drawn else "hit"}"'
    return HTMLResponse(body, headers={"Server-Timing": timing})


Build = Callable[[Ledger, Page], Mapping[str, Any]]
MAIN: list[tuple[str, str, Build]] = []  # (path, template, build) of the pages prepared on a first visit


def main_page(path: str, template: str, build: Build) -> None:
    """Declare a page worth preparing as soon as anyone opens the dashboard (see ``render``)."""
    MAIN.append((path, template, build))


def prepare(app_state: Any, services: Any, scope: dict[str, Any] | None = None, skip: str = "") -> None:
    """Have the main pages drawn in the background (their states loaded: at 5M events ~1 s of
    CPU each), before anyone asks for them: called when the server starts (``serve``), and on
    the dashboard's first visit (an app started some other way)."""
    base = scope or {"type": "http", "method": "GET", "scheme": "http", "headers": []}
    for path, template, build in MAIN:
        if path != skip:
            main = base | {"path": path, "raw_path": path.encode(), "query_string": b"", "path_params": {}}
            _keep_warm(app_state, services, main, template, build, -1)


def _keep_warm(
    app_state: Any, services: Any, scope: dict[str, Any], template: str, build: Build, version: int
) -> bool:
    url = (template, scope["path"], scope["query_string"].decode("latin-1"))
    again = lambda ledger: draw(ledger, Page(Request(scope)), template, build)  # noqa: E731
    return warm.visited(app_state, services, url, again, version)


def error_page(status: int, message: str) -> HTMLResponse:
    body = TEMPLATES.get_template("error.html").render(
        status=status, message=message, nav=NAV, page=None, section=""
    )
    return HTMLResponse(body, status_code=status)
