"""The dashboard's warmer, against a real ``lakeledger serve`` process: a page looked at "now" is
drawn again in the background after the next commit, so the following request finds it ready
(the page cache answers: ``Server-Timing: cache;desc="hit"``), and it shows that commit."""

from __future__ import annotations

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
        timing, html = page(server, "/runs")
        assert 'cache;desc="miss"' in timing and "first-run" in html
        timing, _ = page(server, "/runs")
        assert 'cache;desc="hit"' in timing  # the same version: the same page
        hit = False
        for attempt in range(8):  # a request racing the warmer draws the page itself: try again
            name = f"run-after-commit-{attempt}"
            status, _ = server.request("POST", "/api/v1/events", [{"kind": "run.started", "job": "train",
                                                                    "name": name}])
            assert status == 200
            time.sleep(1.0 + attempt)  # the warmer checks the version every half second
            timing, html = page(server, "/runs")
            hit = 'cache;desc="hit"' in timing
            assert name in html  # warmed or not, the page shows the new commit
            if hit:
                break
        assert hit, "the page was never ready before the request came"
    finally:
        assert server.stop() == 0
