"""``lakeledger models list|register|stage|alias``: the model registry from a shell."""

from __future__ import annotations

import argparse
from typing import Any

from lakeledger.cli import output
from lakeledger.cli.commands.runs import numbers, pairs, typed
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import (
    add_search_options,
    check_search_options,
    emit,
    resolve_run,
    searched,
)
from lakeledger.store.errors import InvalidInput

COLUMNS = ["model", "version", "stage", "aliases", "run_id", "metrics", "registered_at"]
STAGES = ["None", "Staging", "Production", "Archived"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list model versions, register, move stages, set aliases")
    cmds = p.add_subparsers(
        dest="models_command", metavar="SUBCOMMAND", parser_class=sub._parser_class
    )  # type: ignore[attr-defined]
    cmds.required = True

    c = cmds.add_parser("list", help="model versions, filtered (name = 'fraud' and stage = ...)")
    add_search_options(c)
    output.add_json(c, "a JSON array of model versions")
    c.set_defaults(func=cmd_list)

    c = cmds.add_parser("register", help="register the next version of a model")
    c.add_argument("model", metavar="MODEL")
    c.add_argument("--run", metavar="RUN", help="the run that produced it (id or unique prefix)")
    c.add_argument("--artifact-uri")
    c.add_argument("--framework")
    c.add_argument("--metric", action="append", default=[], metavar="KEY=NUMBER")
    c.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    output.add_json(c, "a JSON object: model, version, run_id")
    c.set_defaults(func=cmd_register)

    c = cmds.add_parser("stage", help="move a version to a stage")
    c.add_argument("model", metavar="MODEL")
    c.add_argument("version", type=int, metavar="VERSION")
    c.add_argument("stage", choices=STAGES, metavar="STAGE", help=", ".join(STAGES))
    c.add_argument("--expect", choices=STAGES, help="only if the version is in this stage now")
    c.add_argument("--reason")
    output.add_json(c, "a JSON object: model, version, stage, previous_stage")
    c.set_defaults(func=cmd_stage)

    c = cmds.add_parser("alias", help="point an alias (champion, ...) at a version")
    c.add_argument("model", metavar="MODEL")
    c.add_argument("alias", metavar="ALIAS")
    c.add_argument("version", type=int, metavar="VERSION")
    output.add_json(c, "a JSON object: model, alias, version")
    c.set_defaults(func=cmd_alias)


def _done(args: argparse.Namespace, result: dict[str, Any], text: str) -> int:
    if args.json:
        output.json_out(result)
    else:
        print(text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    check_search_options(args)
    emit(args, searched(open_ledger(args), "models", args), COLUMNS, empty="(no model versions)")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    metrics = numbers(args.metric)
    params = {k: typed(v) for k, v in pairs(args.param, "--param").items()}
    tags = pairs(args.tag, "--tag")
    ledger = open_ledger(args, create=True)
    run_id = resolve_run(ledger, args.run) if args.run else None
    version = ledger.register_model_version(
        args.model,
        artifact_uri=args.artifact_uri,
        framework=args.framework,
        run_id=run_id,
        metrics=metrics,
        params=params,
        tags=tags,
    )
    result = {"model": args.model, "version": version, "run_id": run_id}
    return _done(args, result, f"{args.model} version {version} registered")


def _known_version(args: argparse.Namespace) -> None:
    if args.version < 1:
        raise InvalidInput(f"version {args.version}: versions start at 1")


def cmd_stage(args: argparse.Namespace) -> int:
    _known_version(args)
    ledger = open_ledger(args)
    options: dict[str, Any] = {"reason": args.reason}
    if args.expect is not None:
        options["expect"] = args.expect
    event = ledger.set_stage(args.model, args.version, args.stage, **options)
    result = {
        "model": args.model,
        "version": args.version,
        "stage": event.stage,
        "previous_stage": event.previous_stage,
    }
    return _done(
        args, result, f"{args.model} v{args.version}: {event.previous_stage} -> {event.stage}"
    )


def cmd_alias(args: argparse.Namespace) -> int:
    _known_version(args)
    open_ledger(args).set_alias(args.model, args.alias, args.version)
    result = {"model": args.model, "alias": args.alias, "version": args.version}
    return _done(args, result, f"{args.model}@{args.alias} -> v{args.version}")
