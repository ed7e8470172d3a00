"""``lakeledger artifacts log|get``: files in and out of the content-addressed artifact store."""

from __future__ import annotations

import argparse
import os

from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.store.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("artifacts", help="artifact files: log, get")
    cmds = group.add_subparsers(dest="artifacts_command", metavar="ACTION")
    cmds.required = True

    p = cmds.add_parser("log", help="copy FILE into <root>/artifacts/sha256/... and register it")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help="artifact name (default: the file's name)")
    p.add_argument("--run", dest="run_id", help="id of the run that produced it")
    p.add_argument("--input", action="append", dest="inputs", metavar="REF", help="an input (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_log)

    p = cmds.add_parser("get", help="copy an artifact's stored file out, verifying its sha256")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--dest", default=".", help="file or directory to write (default: .)")
    p.add_argument("--hash", dest="content_hash", help="a registration by content hash (prefix)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_get)


def cmd_log(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        raise InvalidInput(f"artifacts log: FILE {args.file!r} does not exist or is not a file")
    with open_ledger(args, create=True) as ledger:
        art = ledger.log_artifact(args.file, args.name, run_id=args.run_id, inputs=args.inputs)
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
