"""The ``lakeledger`` command.

Exit codes are stable: 0 ok, 1 a check found problems (or the store failed), 2 bad usage or
input. ``LedgerError`` messages are printed without a traceback. Command groups live in their
own modules under ``commands/``, each with ``register(subparsers)``; add each command to
``COMMANDS`` (name -> module, help). Shared options live in ``context`` (the ledger) and
``output`` (--json).

Start-up is part of the interface: ``COMMANDS`` lets the parser list every command without
importing any, and only the chosen command's module is imported (with the data libraries it
needs), so ``--help`` and ``--version`` import no polars, pyarrow or deltalake.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from lakeledger.store.errors import InvalidInput, LedgerError
from lakeledger.store.identity import VERSION
from lakeledger.store.location import default_root

# command -> (module under lakeledger.cli.commands that registers it, its help);
# tests/test_cli_startup.py checks this says what each module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("log", "create the ledger at --root (idempotent)"),
    "append": ("log", "append JSON Lines events atomically (all or nothing)"),
    "events": ("log", "list events"),
    "history": ("log", "commits: version, time, who, events"),
    "rebuild": ("views", "refresh materialised views (incremental; --full from all events)"),
    "show": (
        "views",
        "show a view (artifacts, artifact_versions, experiments, models, runs, coverage, staleness, "
        "validations)",
    ),
    "audit": ("views", "timeline of one stream: what happened, who, when"),
    "diff": ("views", "rows added, changed, removed in a view between two moments"),
    "check": ("views", "integrity gate: exit 1 listing stale/missing/orphaned/uncovered/failing"),
    "runs": ("runs", "start, log, end, list, show, delete, restore runs"),
    "experiments": ("experiments", "list or create experiments"),
    "models": ("models", "list model versions, register, move stages, set aliases"),
    "artifacts": ("artifacts", "artifacts: log a file, get it back verified, list"),
    "validations": ("validations", "record validation results"),
    "import": ("imports", "import history from another tracking system"),
    "watch": ("watch", "register partitions landing in a directory as they complete"),
    "ingest": ("ingest", "pull sources into bronze Delta tables, exactly once"),
    "validate": ("checks", "check a data file or Delta table against a .schema.json"),
    "profile": ("checks", "schema and stats of a data file (and write them)"),
    "doctor": (
        "doctor",
        "check the log end to end, data files, duplicate ids, views, schema versions",
    ),
    "serve": ("serve", "HTTP server: append, OpenLineage, views, subscriptions"),
    "follow": ("follow", "react to events as they commit (exec a command or call a webhook)"),
    "lineage": ("lineage", "OpenLineage events in"),
}


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
    parser.add_argument("--version", action="version", version=f"lakeledger {VERSION}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, action=_Commands
    )
    sub.required = True
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)  # a placeholder until chosen
    return parser


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose parsers are built when chosen: the chosen command's module replaces
    the placeholders of every command it registers, then parsing goes on as usual."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = values[0]
        if name in COMMANDS:
            module = COMMANDS[name][0]
            for other, (owner, _) in COMMANDS.items():
                if owner == module:
                    self._name_parser_map.pop(other, None)
            self._choices_actions = [
                a for a in self._choices_actions if a.dest in self._name_parser_map
            ]
            importlib.import_module(f"lakeledger.cli.commands.{module}").register(self)
        super().__call__(parser, namespace, values, option_string)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (never raises for expected errors)."""
    try:
        args = build_parser().parse_args(argv)  # --help and --version end here
        import logging  # (with threading, traceback...: not for --help)

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
    import logging

    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
