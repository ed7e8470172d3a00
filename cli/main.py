"""The ``lakeledger`` command.

Exit codes are stable: 0 ok, 1 a check found problems (or the store failed), 2 bad usage or
input. ``LedgerError`` messages are printed without a traceback. Command groups live in their
own modules under ``commands/``, each with ``register(subparsers)``; add a module to
``COMMAND_MODULES``. Shared options live in ``context`` (the ledger) and ``output`` (--json).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from lakeledger.store import LedgerError, default_root
from lakeledger.store.errors import InvalidInput
from lakeledger.store.identity import lakeledger_version

COMMAND_MODULES = [  # under lakeledger.cli.commands
    "log",
    "views",
    "watch",
    "ingest",
    "checks",
    "runs",
    "experiments",
    "models",
    "artifacts",
    "validations",
    "imports",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        raise InvalidInput(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lakeledger", description="Event-sourced metadata for ML and data pipelines."
    )
    parser.add_argument(
        "--root",
        default=default_root(),
        help="ledger root: a path or URI (env LAKELEDGER_ROOT, default ./lakeledger)",
    )
    parser.add_argument(
        "--storage-option",
        action="append",
        metavar="KEY=VALUE",
        help="storage option for remote roots (repeatable); AWS_* env vars also work",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the store does")
    parser.add_argument("--version", action="version", version=f"lakeledger {lakeledger_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"lakeledger.cli.commands.{name}").register(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (never raises for expected errors)."""
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        return int(args.func(args) or 0)
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main() -> None:
    code = run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is committed and flushed by now. Exit without interpreter teardown: native
    # runtimes (tokio in delta-rs, object-store clients) have been seen to abort at teardown
    # on S3, and a CLI that succeeded must exit 0, every time.
    logging.shutdown()
    os._exit(code)
