"""Benchmark of the dashboard: page load p50 (server time and the browser's load event) for the
runs, models and coverage pages on a large ledger, in real headless Chromium.

Target on 2 cores: <= 300 ms each, on a 1M-event and a 5M-event ledger. The server time comes
from the page's ``Server-Timing`` header; the load event from the Navigation Timing API. Each
page is measured "fresh" (the first load after a commit of 40 more events of the workload:
nothing cached for that ledger version) and "warm" (loaded again at the same version),
interleaved.

Usage: python scripts/bench/dashboard.py [--events 1000000] [--root DIR] [--repeat 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lakeledger.store import Ledger, LogSettings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from tests.serve_fixtures import Server  # noqa: E402


def _views_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("views_bench", HERE / "views.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def build(root: Path, events: int) -> None:
    bench = _views_bench()
    ledger = Ledger.open(root, settings=LogSettings(compact_every=50))
    if ledger.version > 1:
        print(f"reusing the ledger at {root} (version {ledger.version})")
        return
    started = time.perf_counter()
    bench.declare(ledger)
    bench.fill(ledger, bench.workload(random.Random(7)), events, 5000)
    print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s")


def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                            options=options)


NAVIGATION = """
const n = performance.getEntriesByType('navigation')[0];
const app = (n.serverTiming || []).find((t) => t.name === 'app');
return [n.loadEventEnd - n.startTime, app ? app.duration : null, n.transferSize || n.encodedBodySize];
"""
PAGES = ("/runs", "/models", "/coverage")
# The comparison, measured interleaved in the same run: the same frame (navigation, as-of
# control, assets) with no data, i.e. what the browser and the server cost on this machine now.
FLOOR = "/runs/compare"
TARGET_MS = 300.0


class Writer:
    """Commits small batches of the same workload while the pages are measured, so a "fresh"
    load is the first one after a commit (nothing cached for that ledger version)."""

    def __init__(self, root: Path) -> None:
        self.ledger = Ledger.open(root)
        self.stream = _views_bench().workload(random.Random(11), prefix=f"bench{time.time_ns()}-")

    def commit(self, events: int = 40) -> None:
        self.ledger.append([next(self.stream) for _ in range(events)], check_ids=False)


def load(driver, url: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    driver.get(url)
    total, app, size = driver.execute_script(NAVIGATION)
    return float(total), float(app or 0.0), int(size or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--root", help="the ledger's root: kept, and reused when it exists (it is written to)")
    args = parser.parse_args()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="ll-dash-")) / "ledger"
    build(root, args.events)
    server = Server(str(root), token=None).start(timeout=600)
    driver = browser()
    driver.set_page_load_timeout(900)
    writer = Writer(root)
    events = writer.ledger.log.scan().select("event_id").collect().height
    print(f"ledger {root}: {events:,} events, version {writer.ledger.version}")
    try:
        for page in PAGES:
            started = time.perf_counter()
            load(driver, server.url + page)  # the first load after start loads the states
            print(f"{page:10} first load after start {time.perf_counter() - started:6.1f} s")
        for page in PAGES:
            fresh: list[tuple[float, float, int]] = []
            warm: list[tuple[float, float, int]] = []
            floor: list[tuple[float, float, int]] = []
            for _ in range(args.repeat):  # interleaved: fresh (first after a commit), warm, floor
                writer.commit()
                fresh.append(load(driver, server.url + page))
                warm.append(load(driver, server.url + page))
                floor.append(load(driver, server.url + FLOOR))
            base = statistics.median(r[0] for r in floor)
            for label, runs in (("fresh", fresh), ("warm", warm)):
                p50 = statistics.median(r[0] for r in runs)
                app = statistics.median(r[1] for r in runs)
                size = statistics.median(r[2] for r in runs) / 1024
                print(f"{page:10} {label:5} load event p50 {p50:7.1f} ms (server {app:6.1f} ms, "
                      f"{size:4.0f} KiB)  target <= {TARGET_MS:.0f} ms: ratio {p50 / TARGET_MS:.2f}; "
                      f"empty frame {base:5.1f} ms: ratio {p50 / base:.2f}")
        print(f"events {events:,}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        driver.quit()
        server.stop()
        writer.ledger.close()
        if not args.root:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
