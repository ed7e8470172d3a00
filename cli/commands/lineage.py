"""``lakeledger lineage import FILE|-``: OpenLineage events from the client's file transport."""

from __future__ import annotations

import argparse
import sys

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.ingest.openlineage import parse
from lakeledger.store.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lineage", help="OpenLineage events in")
    lineage_sub = p.add_subparsers(
        dest="lineage_command", metavar="SUBCOMMAND", parser_class=sub._parser_class
    )  # type: ignore[attr-defined]
    lineage_sub.required = True
    i = lineage_sub.add_parser("import", help="import OpenLineage events (JSON, array or JSON Lines)")
    i.add_argument("files", nargs="+", metavar="FILE", help="files written by the file transport, or -")
    output.add_json(i, "a JSON array: one object per file (version, appended, skipped)")
    i.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    parsed = []
    for name in args.files:
        if name == "-":
            body, source = sys.stdin.buffer.read(), "<stdin>"
        else:
            try:
                with open(name, "rb") as f:
                    body, source = f.read(), name
            except OSError as exc:
                raise InvalidInput(f"cannot read {name}: {exc.strerror}") from None
        parsed.append((source, parse(body, source)))  # every file valid before anything is written
    ledger = open_ledger(args, create=True)
    rows = []
    for source, events in parsed:
        result = ledger.append(events)
        rows.append(
            {
                "file": source,
                "version": result.version,
                "appended": len(result.events),
                "skipped": len(result.skipped),
            }
        )
    output.emit(args, rows, ["file", "version", "appended", "skipped"])
    return 0
