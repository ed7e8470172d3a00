"""Benchmark of the dashboard: page load p50 (server time and the browser's load event) for the
runs, models and coverage pages on a large ledger, in real headless Chromium.

Target on 2 cores: <= 300 ms each, on a 1M-event and a 5M-event ledger. The server time comes
from the page's ``Server-Timing`` header; the load event from the Navigation Timing API.

Usage: python scripts/bench/dashboard.py [--events 1000000] [--root DIR] [--repeat 7]
"""

from __future__ import annotations

import argparse
import importlib.util
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
return [n.loadEventEnd - n.startTime, app ? app.duration : null];
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--root", help="the ledger's root: kept, and reused when it exists")
    args = parser.parse_args()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="ll-dash-")) / "ledger"
    build(root, args.events)
    server = Server(str(root), token=None).start(timeout=600)
    driver = browser()
    try:
        for page in ("/runs", "/models", "/coverage"):
            driver.get(server.url + page)  # first load refreshes the materialised views
            loads, apps = [], []
            for _ in range(args.repeat):
                driver.get(server.url + page)
                load, app = driver.execute_script(NAVIGATION)
                loads.append(load)
                apps.append(app or 0.0)
            p50 = statistics.median(loads)
            print(f"{page:10} load event p50 {p50:7.1f} ms (server {statistics.median(apps):6.1f} ms)"
                  f"   target <= 300 ms: ratio {p50 / 300:.2f}")
    finally:
        driver.quit()
        server.stop()
        if not args.root:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
