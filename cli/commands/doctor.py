"""``lakeledger doctor``: is this ledger healthy, and if not, what to do about each problem."""

from __future__ import annotations

import argparse

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger, storage_options


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor",
        help="check the log end to end, data files, duplicate ids, views, schema versions",
    )
    output.add_json(p, "a JSON object: ok, figures, findings (an array)")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from lakeledger.projections.health import examine_views
    from lakeledger.store import EventLog, Ledger
    from lakeledger.store.delta import DamagedLog
    from lakeledger.store.health import examine
    from lakeledger.store.location import Location

    try:
        ledger = open_ledger(args)
    except DamagedLog:  # the very thing to examine: open it without loading, and say what is wrong
        location = Location.of(args.root, storage_options(args.storage_option))
        ledger = Ledger(location, EventLog(location))
    health = examine(ledger)
    if health.readable:  # else every view would just repeat that the events are unreadable
        health.findings += examine_views(ledger)
    ok = health.ok
    if args.json:
        output.json_out(
            {
                "ok": ok,
                "figures": health.figures,
                "findings": [
                    {"check": f.check, "ok": f.ok, "detail": f.detail, "fix": f.fix}
                    for f in health.findings
                ],
            }
        )
        return 0 if ok else 1
    for f in health.findings:
        print(f"{'ok ' if f.ok else 'BAD'}  {f.check}: {f.detail}")
        if not f.ok and f.fix:
            print(f"     fix: {f.fix}")
    print("  ".join(f"{k}={v}" for k, v in health.figures.items()))
    print("healthy" if ok else f"{sum(not f.ok for f in health.findings)} problem(s) found")
    return 0 if ok else 1
