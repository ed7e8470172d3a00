"""Benchmark of the dashboard: page load p50 (server time and the browser's load event) for the
runs, models and coverage pages on a large ledger, in real headless Chromium.

Target on 2 cores: <= 300 ms each, on a 1M-event and a 5M-event ledger. The server time comes
from the page's ``Server-Timing`` header; the load event from the Navigation Timing API. Each
page is measured, interleaved with the comparison (the same frame with no data, an "empty frame"):

- "fresh": the first load right after a commit of 40 more events of the workload (the request
  itself brings the states forward: the worst case, a request racing the commit);
- "settled": the first load ``--settle`` seconds after a commit (what a user opening a page sees
  when the ledger moved a moment ago: the server's warmer has had time to draw it);
- "warm": loaded again at the same version.

Before those, the first load of each page after the server started is printed: ``serve`` draws
the main pages in the background as it starts, so that load waits only for what is left of it.

Usage: python scripts/bench/dashboard.py [--events 1000000] [--root DIR] [--repeat 7] [--settle 1.0]
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


class Target:
    """One server under measurement, with its own ledger and the writer that moves it."""

    def __init__(self, label: str, root: Path, pythonpath: str | None = None) -> None:
        self.label, self.root = label, root
        saved = os.environ.get("PYTHONPATH")
        if pythonpath:  # the server imports lakeledger from that tree (e.g. the code before a change)
            os.environ["PYTHONPATH"] = pythonpath
        try:
            self.server = Server(str(root), token=None).start(timeout=600)
        finally:
            if pythonpath:
                os.environ.pop("PYTHONPATH") if saved is None else os.environ.update(PYTHONPATH=saved)
        self.writer = Writer(root)

    def close(self) -> None:
        self.server.stop()
        self.writer.ledger.close()


def measure(driver, targets: list[Target], page: str, repeat: int, settle: float) -> dict[str, dict[str, list]]:  # type: ignore[no-untyped-def, type-arg]
    """Per target, per kind of load: (load event ms, server ms, bytes), interleaved across targets."""
    out: dict[str, dict[str, list]] = {t.label: {k: [] for k in KINDS} for t in targets}  # type: ignore[type-arg]
    for _ in range(repeat):
        for t in targets:  # fresh, warm, empty frame, then settled
            runs, url = out[t.label], t.server.url
            t.writer.commit()
            runs["fresh"].append(load(driver, url + page))
            runs["warm"].append(load(driver, url + page))
            runs["empty frame"].append(load(driver, url + FLOOR))
            t.writer.commit()
            time.sleep(settle)
            runs["settled"].append(load(driver, url + page))
    return out


KINDS = ("fresh", "settled", "warm", "empty frame")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between a commit and a settled load")
    parser.add_argument("--root", help="the ledger's root: kept, and reused when it exists (it is written to)")
    parser.add_argument("--against", metavar="PYTHONPATH",
                        help="also measure, interleaved, a server importing lakeledger from this path (e.g. "
                             "the code before a change) on a copy of the ledger")
    args = parser.parse_args()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="ll-dash-")) / "ledger"
    build(root, args.events)
    copy = None
    targets = [Target("this", root)]
    if args.against:
        copy = Path(tempfile.mkdtemp(prefix="ll-dash-against-")) / "ledger"
        shutil.copytree(root, copy)
        targets.append(Target("against", copy, args.against))
    driver = browser()
    driver.set_page_load_timeout(900)
    events = targets[0].writer.ledger.log.scan().select("event_id").collect().height
    print(f"ledger {root}: {events:,} events, version {targets[0].writer.ledger.version}")
    table: list[str] = []
    try:
        for page in PAGES:
            for t in targets:
                started = time.perf_counter()
                load(driver, t.server.url + page)  # the first load after start loads the states
                print(f"{t.label:8} {page:10} first load after start {time.perf_counter() - started:6.1f} s")
        for page in PAGES:
            measured = measure(driver, targets, page, args.repeat, args.settle)
            for t in targets:
                runs = measured[t.label]
                base = statistics.median(r[0] for r in runs["empty frame"])
                row = []
                for kind in KINDS:
                    p50 = statistics.median(r[0] for r in runs[kind])
                    app = statistics.median(r[1] for r in runs[kind])
                    size = statistics.median(r[2] for r in runs[kind]) / 1024
                    print(f"{t.label:8} {page:10} {kind:11} load event p50 {p50:7.1f} ms (server {app:6.1f} ms, "
                          f"{size:4.0f} KiB)  target <= {TARGET_MS:.0f} ms: ratio {p50 / TARGET_MS:.2f}; "
                          f"empty frame: ratio {p50 / base:.2f}")
                    row.append(f"{p50:5.0f} ({app:4.0f})")
                table.append("  ".join([f"{t.label:8}", f"{page:10}", *row]))
        print(f"\np50 load event ms (server ms) at {events:,} events, target <= {TARGET_MS:.0f} ms:")
        print("  ".join([f"{'server':8}", f"{'page':10}", *(f"{k:12}" for k in KINDS)]))
        print("\n".join(sorted(table)))
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        driver.quit()
        for t in targets:
            t.close()
        if copy is not None:
            shutil.rmtree(copy.parent, ignore_errors=True)
        if not args.root:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
