"""The dashboard's warmer, against a real ``lakeledger serve`` process: a page looked at "now" is
drawn again in the background after the next commit, so the following request finds it ready
(the page cache answers: ``Server-Timing: cache;desc="hit"``), and it shows that commit."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from lakeledger import Ledger

from tests.serve_fixtures import TOKEN, Server


def page(server: Server, path: str) -> tuple[str, str]:
    """(the Server-Timing header, the HTML) of one dashboard page."""
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 200
        return answer.headers["Server-Timing"], answer.read().decode()


def test_a_page_viewed_now_is_ready_and_current_after_the_next_commit(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    with Ledger.open(root) as ledger, ledger.run("train", name="first-run"):
        pass
    server = Server(str(root)).start()
    try:
        timing, html = page(server, "/runs")  # drawn by this request, or prepared at start
        assert "first-run" in html
        timing, _ = page(server, "/runs")
        assert 'cache;desc="hit"' in timing  # the same version: the same page
        hit = False
        for attempt in range(8):  # a request racing the warmer draws the page itself: try again
            name = f"run-after-commit-{attempt}"
            status, _ = server.request("POST", "/api/v1/events", [{"kind": "run.started", "job": "train",
                                                                    "name": name}])
            assert status == 200
            time.sleep(1.0 + attempt)  # the warmer checks the version every quarter second
            timing, html = page(server, "/runs")
            hit = 'cache;desc="hit"' in timing
            assert name in html  # warmed or not, the page shows the new commit
            if hit:
                break
        assert hit, "the page was never ready before the request came"
    finally:
        assert server.stop() == 0


def test_a_page_part_computed_by_one_thread_is_waited_for_by_the_others() -> None:
    from lakeledger.cli.serve.dashboard.page import Cache

    cache = Cache()
    calls: list[int] = []
    started = threading.Event()

    def compute() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        return 42

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(cache.get(("k",), compute)))
    first.start()
    started.wait(30)
    results.append(cache.get(("k",), compute))  # asks while the first thread computes
    first.join(30)
    assert results == [42, 42] and len(calls) == 1


def test_a_live_state_brought_past_a_version_is_not_loaded_again(tmp_path: Path) -> None:
    """The warmer's reader may advance a state past the version a request read a moment ago:
    the request gets the newer state (still "now"), not a reload of the whole view."""
    from lakeledger.cli.serve.dashboard.live import Live, view_loader
    from lakeledger.projections import registry

    loads: list[int] = []

    def loader(ledger: Ledger):  # type: ignore[no-untyped-def]
        loads.append(1)
        return view_loader("runs")(ledger)

    with Ledger.open(tmp_path / "ledger") as ledger:
        with ledger.run("train", name="a"):
            pass
        before = ledger.version
        live = Live(registry.get("runs").parts, loader)
        with ledger.run("train", name="b"):
            pass
        newer = live.state(ledger, ledger.version)
        again = live.state(ledger, before)
        assert len(loads) == 1 and sorted(again["started"]["name"]) == sorted(newer["started"]["name"]) == ["a", "b"]


def test_the_main_pages_are_prepared_when_the_server_starts(tmp_path: Path) -> None:
    """``lakeledger serve`` draws runs, models and coverage in the background as it starts: the
    first visitor's page is ready when they get to it (the page cache answers), and current."""
    root = tmp_path / "ledger"
    with Ledger.open(root) as ledger:
        ledger.declare_dataset("sales", freq="D", start="2025-03-01", end="2025-03-02")
        ledger.observe_partition("sales", "date=2025-03-01", rows=1)
    hit = False
    for attempt in range(4):  # each attempt a new server; more time on a busy machine
        server = Server(str(root)).start()
        try:
            time.sleep(2.0 * (attempt + 1))
            timing, html = page(server, "/coverage")
            assert 'data-label="2025-03-02"' in html  # prepared or not, the same page
            hit = 'cache;desc="hit"' in timing
            if hit:
                _, html = page(server, "/runs")
                assert "<h1>Runs</h1>" in html
        finally:
            assert server.stop() == 0
        if hit:
            break
    assert hit, "the coverage page was not prepared when the server started"


def test_pages_prepared_at_start_are_not_redrawn_while_nobody_looks(tmp_path: Path) -> None:
    """A page prepared as the server starts is drawn once; after later commits it is drawn
    again only once someone has viewed a page (an API-only server does no dashboard work)."""
    import asyncio
    from types import SimpleNamespace

    from lakeledger.cli.serve.dashboard.warm import Warmer

    root = tmp_path / "ledger"
    with Ledger.open(root) as ledger:
        ledger.declare_dataset("sales", freq="D")
        drawn: list[int] = []
        services = SimpleNamespace(root=str(root), storage_options={}, stopping=asyncio.Event())
        warmer = Warmer(services)
        try:
            warmer.visited(("runs.html", "/runs", ""), lambda reader: drawn.append(reader.version), -1)
            deadline = time.monotonic() + 60
            while not drawn and time.monotonic() < deadline:
                time.sleep(0.05)
            prepared_at = ledger.version
            assert drawn == [prepared_at]  # prepared
            ledger.observe_partition("sales", "date=2025-03-01", rows=1)
            assert ledger.version > prepared_at
            time.sleep(1.5)  # several version checks
            assert drawn == [prepared_at]  # nobody looked: not drawn again
            warmer.visited(("runs.html", "/runs", ""), lambda reader: drawn.append(reader.version),
                           ledger.version)  # a request drew it at this version
            ledger.observe_partition("sales", "date=2025-03-02", rows=1)
            deadline = time.monotonic() + 60
            while len(drawn) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert drawn[1:] == [ledger.version]  # viewed: kept warm after the next commit
        finally:
            warmer.close()
