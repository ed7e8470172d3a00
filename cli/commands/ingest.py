"""``lakeledger ingest``: run extractors into bronze, and show where each source stands."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import polars as pl
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.ingest.extract import config as ingest_config
from lakeledger.ingest.extract.held import held
from lakeledger.ingest.extract.quarantine import Quarantine
from lakeledger.ingest.extract.runner import SourceResult, run_sources
from lakeledger.projections.views.ingest_status import SUMMARY, ingest_status

DEFAULT_CONFIG = "sources.toml"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("ingest", help="pull sources into bronze Delta tables, exactly once")
    commands = parser.add_subparsers(dest="ingest_command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("run", help="ingest new records from the sources in a config")
    p.add_argument(
        "config",
        nargs="?",
        default=os.environ.get("LAKELEDGER_SOURCES", DEFAULT_CONFIG),
        help="sources.toml (or .yaml); default $LAKELEDGER_SOURCES or ./sources.toml",
    )
    p.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="ignore the cursor: read everything again and replace the bronze table",
    )
    p.add_argument("--samples", metavar="DIR", help="keep raw HTTP pages in DIR (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    output.add_json(p, "a JSON array of results, one per source")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("status", help="per source: cursor, last run, rows, quarantined, errors")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source")
    output.add_json(p, "a JSON array of sources")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("quarantine", help="rejected records: source, where, reason, raw record")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source")
    p.add_argument("--run", metavar="RUN_ID", help="only records rejected by this run")
    p.add_argument("--limit", type=int, default=50, help="newest N (default 50; 0 = all)")
    output.add_json(p, "a JSON array of quarantined records (oldest first)")
    p.set_defaults(func=cmd_quarantine)


class Progress:
    """One status line per source on stderr, redrawn in place on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.latest: SourceResult | None = None

    def __call__(self, r: SourceResult, *, force: bool = False) -> None:
        if not self.enabled:
            return
        self.latest = r
        now = time.monotonic()
        if self.tty and not force and now - self.last < 0.1:
            return
        self.last = now
        rate = r.read / r.duration_s if r.duration_s > 0 else 0.0
        bar = ""
        if r.done is not None:
            filled = round(r.done * 20)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {r.done:4.0%}  "
        line = (
            f"{r.source}: {bar}batch {r.last_batch}  read {r.read:,}  written {r.written:,}  "
            f"quarantined {r.quarantined:,}  {_size(r.bytes)}  {rate:,.0f} rows/s"
        )
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty and self.latest is not None:
            self(self.latest, force=True)  # the final state, even if throttled
            sys.stderr.write("\n")


def cmd_run(args: argparse.Namespace) -> int:
    loaded = ingest_config.load(args.config, args.source)
    ledger = open_ledger(args, create=True)
    progress = Progress(not args.no_progress)
    try:
        results = run_sources(
            ledger,
            loaded,
            only=args.source,
            full_refresh=args.full_refresh,
            progress=progress,
            samples_dir=args.samples,
        )
    finally:
        progress.done()
        ledger.close()
    rows = [_row(r) for r in results]
    if args.json:
        output.json_out([r.as_dict() for r in results])
    else:
        output.table(
            rows,
            [
                "source",
                "status",
                "batches",
                "read",
                "written",
                "quarantined",
                "skipped",
                "seconds",
                "rows_per_s",
                "note",
            ],
        )
    for r in results:
        if r.error:
            print(f"error: {r.source}: {r.error}", file=sys.stderr)
    return 1 if any(r.status != "success" for r in results) else 0


def _row(r: SourceResult) -> dict[str, Any]:
    note = r.stop_reason or ("resumed after an interrupted run" if r.repaired else "")
    return {
        "source": r.source,
        "status": r.status,
        "batches": r.batches,
        "read": r.read,
        "written": r.written,
        "quarantined": r.quarantined,
        "skipped": r.skipped,
        "seconds": round(r.duration_s, 2),
        "rows_per_s": round(r.read / r.duration_s) if r.duration_s > 0 else None,
        "note": note or r.error,
    }


def cmd_status(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    events = ledger.events(kind=["ingest.checkpoint", "run.*"])
    sources = ingest_status(events)["source"].drop_nulls().to_list()
    # counted in the tables: a killed run never logged its metrics but its rows are there
    view = ingest_status(events, held(ledger.location, sources))
    if args.source:
        view = view.filter(view["source"].is_in(args.source))
    output.emit(
        args,
        view,
        SUMMARY,
        empty="(no sources ingested yet)",
    )
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    frame = Quarantine(ledger.location).scan()
    if args.source:
        frame = frame.filter(pl.col("source").is_in(args.source))
    if args.run:
        frame = frame.filter(pl.col("run_id") == args.run)
    frame = frame.sort("quarantined_at", "batch", "row", descending=True, nulls_last=True)
    if args.limit:
        frame = frame.head(args.limit)
    rows = frame.collect().reverse()
    output.emit(
        args,
        rows,
        ["quarantined_at", "source", "batch", "origin", "row", "reason", "raw"],
        empty="(nothing quarantined)",
    )
    return 0


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} B"
