"""``lakeledger validations record``: record a data-quality result from a shell or CI step.

(``validate PATH --schema`` checks a file; ``validations`` is the group of recorded results,
named like ``runs``, ``models``, ``experiments`` and ``artifacts``.)"""

from __future__ import annotations

import argparse
from typing import Any

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import resolve_run
from lakeledger.projections.engine.keyvalues import json_value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validations", help="record validation results")
    cmds = p.add_subparsers(
        dest="validations_command", metavar="SUBCOMMAND", parser_class=sub._parser_class
    )  # type: ignore[attr-defined]
    cmds.required = True
    c = cmds.add_parser("record", help="record one check's result on a target")
    c.add_argument("target", metavar="TARGET", help="what was checked, e.g. dataset/sales")
    c.add_argument("check", metavar="CHECK", help="the check's name, e.g. row_count")
    outcome = c.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--passed", dest="passed", action="store_true")
    outcome.add_argument("--failed", dest="passed", action="store_false")
    c.add_argument("--severity", choices=["error", "warning", "info"], default="error")
    c.add_argument("--observed", metavar="JSON", help="what was seen (JSON, or text)")
    c.add_argument("--expected", metavar="JSON", help="what was expected (JSON, or text)")
    c.add_argument("--failed-count", type=int, metavar="N")
    c.add_argument("--run", metavar="RUN", help="the run that checked (id or unique prefix)")
    output.add_json(c, "a JSON object: target, check, passed, severity, event_id")
    c.set_defaults(func=cmd_record)


def cmd_record(args: argparse.Namespace) -> int:
    ledger = open_ledger(args, create=True)
    fields: dict[str, Any] = {
        "severity": args.severity,
        "observed": json_value(args.observed),
        "expected": json_value(args.expected),
        "failed_count": args.failed_count,
        "run_id": resolve_run(ledger, args.run) if args.run else None,
    }
    event = ledger.record_validation(args.target, args.check, args.passed, **fields)
    result = {
        "target": args.target,
        "check": args.check,
        "passed": args.passed,
        "severity": args.severity,
        "event_id": event.event_id,
    }
    if args.json:
        output.json_out(result)
    else:
        print(f"{args.target}:{args.check} {'passed' if args.passed else 'FAILED'} recorded")
    return 0
