"""``lakeledger import mlflow --tracking-uri URI``: bring an MLflow store's history in, once."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import TextIO

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.store.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("import", help="import history from another tracking system")
    sources = group.add_subparsers(dest="import_source", metavar="SOURCE")
    sources.required = True
    p = sources.add_parser(
        "mlflow",
        help="experiments, runs, every metric point, artifacts, models, stages, aliases",
    )
    p.add_argument(
        "--tracking-uri",
        required=True,
        help="sqlite:///mlflow.db, file:./mlruns or http://host:5000 (anything MLflow accepts)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress line")
    output.add_json(p, "a JSON object: tracking_uri, read, added, already_imported, seconds")
    p.set_defaults(func=cmd_mlflow)


class ProgressLine:
    """One self-overwriting status line on a terminal (plain lines every few seconds otherwise)."""

    def __init__(self, out: TextIO, enabled: bool) -> None:
        self.out = out
        self.enabled = enabled
        self.tty = out.isatty()
        self.counts: Counter[str] = Counter()
        self.started = self._last = time.monotonic()

    def __call__(self, what: str, n: int) -> None:
        self.counts[what] += n
        now = time.monotonic()
        if not self.enabled or now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        self.draw()

    def draw(self, end: str = "") -> None:
        order = ("experiments", "runs", "metric points", "models", "events")
        text = "  ".join(f"{self.counts[k]:,} {k}" for k in order if self.counts[k])
        rate = self.counts["metric points"] / max(time.monotonic() - self.started, 1e-9)
        line = f"importing: {text}  ({rate:,.0f} points/s)"
        self.out.write(("\r" + line + "\033[K" if self.tty else line + "\n") + end)
        self.out.flush()


def cmd_mlflow(args: argparse.Namespace) -> int:
    from lakeledger.ingest.importers.mlflow import import_mlflow

    uri = args.tracking_uri.strip()
    if not uri:
        raise InvalidInput("import mlflow: --tracking-uri is empty; e.g. sqlite:///mlflow.db")
    progress = ProgressLine(sys.stderr, enabled=not args.no_progress)
    started = time.monotonic()
    with open_ledger(args, create=True) as ledger:
        summary = import_mlflow(ledger, uri, progress=progress)
    if progress.enabled and progress.tty:
        progress.draw(end="\n")
    elapsed = time.monotonic() - started
    result = {
        "tracking_uri": uri,
        "read": dict(summary.read),
        "added": summary.added,
        "already_imported": summary.skipped,
        "seconds": round(elapsed, 3),
    }
    if args.json:
        output.json_out(result)
    else:
        output.table(summary.rows(), empty="(the MLflow store is empty)")
        print(f"{summary.added:,} events added, {summary.skipped:,} already imported ({elapsed:.1f} s)")
    return 0
