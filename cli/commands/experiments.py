"""``lakeledger experiments list|create``."""

from __future__ import annotations

import argparse

from lakeledger.cli import output
from lakeledger.cli.commands.runs import pairs
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import add_search_options, check_search_options, emit, searched

COLUMNS = ["experiment", "runs", "created_at", "created_by", "last_run_at"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("experiments", help="list or create experiments")
    cmds = p.add_subparsers(
        dest="experiments_command", metavar="SUBCOMMAND", parser_class=sub._parser_class
    )  # type: ignore[attr-defined]
    cmds.required = True
    c = cmds.add_parser("list", help="experiments with their run counts")
    add_search_options(c)
    output.add_json(c, "a JSON array of experiments")
    c.set_defaults(func=cmd_list)
    c = cmds.add_parser("create", help="create an experiment (idempotent by name in views)")
    c.add_argument("experiment", metavar="NAME")
    c.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    output.add_json(c, "a JSON object: experiment, event_id")
    c.set_defaults(func=cmd_create)


def cmd_list(args: argparse.Namespace) -> int:
    check_search_options(args)
    emit(args, searched(open_ledger(args), "experiments", args), COLUMNS, empty="(no experiments)")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    tags = pairs(args.tag, "--tag")
    event = open_ledger(args, create=True).create_experiment(args.experiment, tags)
    result = {"experiment": args.experiment, "event_id": event.event_id}
    if args.json:
        output.json_out(result)
    else:
        print(f"experiment {args.experiment} created")
    return 0
