"""``lakeledger artifacts log|get|list``: files in and out of the content-addressed artifact
store, and every registration of every artifact name.

Five runs registering ``churn-model`` are five versions; ``--run`` narrows to one run's
artifacts, ``--model M --version V`` to those of the run behind a model version. "Latest" and
"best by metric" are queries: ``--order-by version DESC --limit 1``, ``--order-by
'metrics.auc DESC' --limit 1`` (each registration carries its run's metrics and params).
"""

from __future__ import annotations

import argparse
import os

import polars as pl
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import add_search_options, check_search_options, emit, resolve_run
from lakeledger.projections import api
from lakeledger.store.errors import InvalidInput

COLUMNS = ["name", "version", "uri", "run_id", "latest", "retired", "registered_at"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("artifacts", help="artifacts: log a file, get it back verified, list")
    cmds = p.add_subparsers(dest="artifacts_command", metavar="SUBCOMMAND", parser_class=sub._parser_class)  # type: ignore[attr-defined]
    cmds.required = True
    c = cmds.add_parser("list", help="every registration (per name, per run or per model version)")
    c.add_argument("name", nargs="?", metavar="NAME", help="one artifact name")
    c.add_argument("--run", metavar="RUN", help="artifacts of this run (id or unique prefix)")
    c.add_argument("--model", metavar="MODEL", help="artifacts of the run behind a model version")
    c.add_argument("--version", type=int, metavar="V", help="with --model: the version")
    add_search_options(c)
    output.add_json(c, "a JSON array of registrations")
    c.set_defaults(func=cmd_list)

    c = cmds.add_parser("log", help="copy FILE into <root>/artifacts/sha256/... and register it")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--name", help="artifact name (default: the file's name)")
    c.add_argument(
        "--run", dest="run_id", metavar="RUN", help="the run that produced it (id or unique prefix)"
    )
    c.add_argument("--input", action="append", dest="inputs", metavar="REF", help="an input (repeatable)")
    output.add_json(c, "a JSON object: name, uri, sha256, size_bytes, run_id")
    c.set_defaults(func=cmd_log)

    c = cmds.add_parser("get", help="copy an artifact's stored file out, verifying its sha256")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--dest", default=".", help="file or directory to write (default: .)")
    c.add_argument("--hash", dest="content_hash", help="a registration by content hash (prefix)")
    output.add_json(c, "a JSON object: name, path, verified")
    c.set_defaults(func=cmd_get)


def cmd_log(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        raise InvalidInput(f"artifacts log: FILE {args.file!r} does not exist or is not a file")
    with open_ledger(args, create=True) as ledger:
        run_id = resolve_run(ledger, args.run_id) if args.run_id else None
        art = ledger.log_artifact(args.file, args.name, run_id=run_id, inputs=args.inputs)
    row = {
        "name": art.name,
        "uri": art.uri,
        "sha256": art.content_hash,
        "size_bytes": art.size_bytes,
        "run_id": art.run_id,
    }
    output.json_out(row) if args.json else output.table([row])
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        path = ledger.get_artifact(args.name, args.dest, content_hash=args.content_hash)
    row = {"name": args.name, "path": path, "verified": True}
    output.json_out(row) if args.json else print(f"{args.name} -> {path} (sha256 verified)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    check_search_options(args)
    if (args.model is None) != (args.version is None):
        raise InvalidInput("--model and --version go together: artifacts of one model version")
    if args.run and args.model:
        raise InvalidInput("give --run or --model/--version, not both")
    ledger = open_ledger(args)
    narrow: list[pl.Expr] = []
    if args.name:
        narrow.append(pl.col("name") == args.name)
    if args.run:
        narrow.append(pl.col("run_id") == resolve_run(ledger, args.run))
    if args.model:
        versions = api.view(ledger, "models", args.as_of).filter(
            (pl.col("model") == args.model) & (pl.col("version") == args.version)
        )
        if versions.height == 0:
            raise InvalidInput(f"no version {args.version} of model {args.model!r}")
        run_id = versions["run_id"][0]
        if run_id is None:
            raise InvalidInput(f"{args.model} v{args.version} names no run: it has no run artifacts")
        narrow.append(pl.col("run_id") == run_id)
    if narrow and args.columns:
        raise InvalidInput("--columns with NAME/--run/--model: add run_id and name to --filter instead")
    frame = api.search(
        ledger,
        "artifact_versions",
        args.filter,
        order_by=args.order_by,
        columns=args.columns,
        as_of=args.as_of,
        limit=None if narrow else args.limit,
    )
    if narrow:
        frame = frame.filter(pl.all_horizontal(narrow))
        if args.limit is not None:
            frame = frame.head(args.limit)
    emit(args, frame, COLUMNS, empty="(no artifacts)")
    return 0
