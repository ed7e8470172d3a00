"""Pages ready before they are asked for: after the ledger moves, the pages people looked at
recently (at "now") are rendered again in the background, so the next request finds them cached.

Without it the first request after a commit pays for bringing the live states forward, ordering
the runs and rendering (100-400 ms of CPU at 5M events, more on a loaded machine). The work is
the same a request would do, through the same page cache, on the warmer's own reader (so a
request never waits for the shared reader's lock while another page is warmed; a request for the
page being drawn waits for that drawing instead of repeating it, see ``page.Cache``).

Bounded: only the last URL viewed at "now" (a page warmed competes for the CPU with the page
being viewed) and, once, the main pages as the server starts (or on the first visit), only while
someone used the dashboard in the last few minutes, one version check every ``INTERVAL`` seconds and never
more than about half the time spent warming. Pages as of a past moment never change, so they need no warming.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from lakeledger.store import Ledger

from . import live

log = logging.getLogger("lakeledger.serve")

INTERVAL = 0.25  # seconds between version checks (a listing of the log: cheap locally, one LIST on S3)
IDLE = 300.0  # stop warming this long after the last page view
PAGES = 8  # distinct URLs kept warm

Draw = Callable[[Ledger], object]  # renders one page into the cache, on the given ledger


class Requests:
    """How many page requests are being served (or wait for the reader) now: the warmer lets
    them go first (it cannot stop a page it already draws, but it starts none while one waits)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1

    def wait_idle(self, stop: threading.Event, step: float = 0.02) -> None:
        while self.count and not stop.wait(step):
            pass


REQUESTS = Requests()


class Warmer:
    """One per app: ``visited`` is cheap (the request path calls it); the thread does the work."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.pages: OrderedDict[tuple[str, ...], Draw] = OrderedDict()
        self.warmed: dict[tuple[str, ...], int] = {}  # url -> the version it was last drawn at
        self.drawn: set[tuple[str, ...]] = set()  # urls drawn at least once (by a request or here)
        self.last_visit = -math.inf  # no page viewed yet (pages prepared at start are not views)
        self.rounds = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lakeledger-dashboard-warm", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # never cut off inside the Delta reader at exit

    def visited(self, url: tuple[str, ...], draw: Draw, version: int) -> None:
        with self._lock:
            new = url not in self.pages
            self.pages[url] = draw
            if version >= 0:  # viewed: the last page viewed is the one kept warm
                self.pages.move_to_end(url)
            elif new:  # to prepare (version -1): not a page anyone is looking at
                self.pages.move_to_end(url, last=False)
            while len(self.pages) > PAGES:
                gone, _ = self.pages.popitem(last=False)
                self.warmed.pop(gone, None)
                self.drawn.discard(gone)
            self.warmed[url] = max(version, self.warmed.get(url, -1))
            if version >= 0:  # a page a request drew (-1: a page to prepare)
                self.drawn.add(url)
                self.last_visit = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(60)

    def _stopping(self) -> bool:
        return self._stop.is_set() or self.services.stopping.is_set()

    def _run(self) -> None:
        ledger: Ledger | None = None
        pause = INTERVAL
        try:
            while not self._stop.wait(pause):
                if self._stopping():
                    return
                pause = INTERVAL
                # nobody looked lately: only pages never drawn yet (prepared as the server starts)
                idle = time.monotonic() - self.last_visit > IDLE
                with self._lock:
                    undrawn = any(url not in self.drawn for url in self.pages)
                if idle and not undrawn:
                    continue
                try:
                    if ledger is None:
                        ledger = Ledger.open(self.services.root, self.services.storage_options, create=False)
                    spent = self._round(ledger, idle)
                    # at most about half the time drawing; tidying the states does not delay the
                    # next check (it is the cheaper part, and a late check leaves pages cold)
                    pause = max(INTERVAL, spent)
                except Exception as exc:  # warming is an optimisation: a request will say what is wrong
                    log.debug("dashboard warm-up failed: %s", exc, exc_info=True)
        finally:
            if ledger is not None:
                ledger.close()

    def _round(self, ledger: Ledger, idle: bool = False) -> float:
        """Draw the pages due at the ledger's version (``idle``: only those never drawn); the
        seconds spent drawing."""
        started = time.monotonic()
        version = ledger.version
        with self._lock:
            # the last page viewed, and pages never drawn yet (prepared at start); other
            # pages wait for a request: drawing them would compete for the CPU with the page
            # being looked at (measured: a fresh runs load at 1M events 2x slower at load 15)
            last = next(reversed(self.pages), None)
            due = [(url, draw) for url, draw in reversed(self.pages.items())
                   if ((url == last and not idle) or url not in self.drawn)
                   and self.warmed.get(url, -1) < version]
        for url, draw in due:  # the most recently viewed first
            REQUESTS.wait_idle(self._stop)
            if self._stopping():
                return time.monotonic() - started
            try:
                draw(ledger)
            except Exception as exc:  # e.g. the page's run is gone: its request will say so
                log.debug("dashboard warm-up of %s failed: %s", url, exc, exc_info=True)
            with self._lock:
                self.warmed[url] = max(version, self.warmed.get(url, -1))
                self.drawn.add(url)
        spent = time.monotonic() - started
        if due:
            REQUESTS.wait_idle(self._stop)
            live.compact_all()  # the states' chunks, copied into one here rather than on a request
            self.rounds += 1
        return spent


_CREATE = threading.Lock()


def visited(app_state: Any, services: Any, url: tuple[str, ...], draw: Draw, version: int) -> bool:
    """Record a page drawn at "now" (``url``) so it is drawn again after each new version; True
    on the dashboard's first visit since the server started."""
    first = False
    warmer = getattr(app_state, "dashboard_warmer", None)
    if warmer is None:
        with _CREATE:
            warmer = getattr(app_state, "dashboard_warmer", None)
            if warmer is None:
                warmer = app_state.dashboard_warmer = Warmer(services)
                first = True
    warmer.visited(url, draw, version)
    return first
