"""Data checks from the command line: validate a file against a schema file, profile it.

    lakeledger validate data.parquet --schema features.schema.json [--record features] [--json]
    lakeledger profile data.parquet [--out _meta --name features] [--json]

``validate`` exits 0 when the data matches, 1 when a check failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import posixpath
import sys

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger, storage_options
from lakeledger.ingest.checks import scan_path, stats_of, validate_schema_file, write_metadata


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="check a data file or Delta table against a .schema.json")
    p.add_argument("path", help="a .parquet/.csv/.jsonl file, Parquet directory or Delta table")
    p.add_argument(
        "--schema", required=True, help="a <name>.schema.json written by `profile --out`"
    )
    p.add_argument("--loose", action="store_true", help="allow columns the schema does not name")
    p.add_argument(
        "--record",
        metavar="TARGET",
        help="also record the result as a validation.recorded event on TARGET",
    )
    output.add_json(p, "a JSON object: the check result (check, passed, severity, details...)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("profile", help="schema and stats of a data file (and write them)")
    p.add_argument("path", help="a .parquet/.csv/.jsonl file, Parquet directory or Delta table")
    p.add_argument(
        "--out", help="write <name>.schema.json and <name>.stats.json into this directory"
    )
    p.add_argument("--name", help="base name of the files (default: the data file's name)")
    output.add_json(p, "a JSON object: rows, columns (stats per column)")
    p.set_defaults(func=cmd_profile)


def cmd_validate(args: argparse.Namespace) -> int:
    options = storage_options(args.storage_option) or None
    data = scan_path(args.path, options)
    result = validate_schema_file(data, args.schema, strict=not args.loose, storage_options=options)
    if args.record:
        with open_ledger(args) as ledger:
            result.record(ledger, args.record)
    if args.json:
        output.json_out(result.to_dict())
    else:
        details = result.details
        rows = [
            {"column": c, "problem": "missing", "expected": e, "observed": ""}
            for c, e in ((c, result.expected.get(c)) for c in details["missing"])
        ]
        rows += [
            {"column": c, "problem": "wrong dtype", **v} for c, v in details["wrong_dtype"].items()
        ]
        rows += [
            {"column": c, "problem": "unexpected", "expected": "", "observed": result.observed[c]}
            for c in details["unexpected"]
        ]
        print(f"{args.path}: {result.summary()}")
        if rows:
            output.table(rows, ["column", "problem", "expected", "observed"])
    return 0 if result.passed else 1


def cmd_profile(args: argparse.Namespace) -> int:
    options = storage_options(args.storage_option) or None
    data = scan_path(args.path, options)
    stats = stats_of(data)
    if args.out:
        name = args.name or posixpath.basename(args.path.rstrip("/")).split(".")[0]
        for path in write_metadata(data, args.out, name, storage_options=options):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        output.json_out(stats)
        return 0
    print(f"{args.path}: {stats['rows']} rows")
    output.table(
        [{"column": c, **s} for c, s in stats["columns"].items()],
        ["column", "dtype", "nulls", "distinct", "min", "max"],
    )
    return 0
