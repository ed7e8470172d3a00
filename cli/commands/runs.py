"""``lakeledger runs ...``: start, log, end, list, show, delete, restore, history, compare.

A run started from a shell belongs to the process that ran ``lakeledger`` (its parent, the
script), not to the short-lived ``lakeledger`` process: if that script dies without ``runs
end``, the run shows ``lost``. ``--owner-pid`` names another process.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

import msgspec
import polars as pl
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import (
    add_search_options,
    check_search_options,
    emit,
    json_rows,
    resolve_run,
    searched,
)
from lakeledger.projections import api
from lakeledger.projections.engine.keyvalues import json_value
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput

LIST_COLUMNS = [
    "run_id",
    "experiment",
    "name",
    "status",
    "started_at",
    "duration_s",
    "params",
    "metrics",
]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("runs", help="start, log, end, list, show, delete, restore runs")
    runs = p.add_subparsers(
        dest="runs_command", metavar="SUBCOMMAND", parser_class=sub._parser_class
    )  # type: ignore[attr-defined]
    runs.required = True

    c = runs.add_parser("start", help="start a run; prints its id")
    c.add_argument("--experiment")
    c.add_argument("--name")
    c.add_argument("--job")
    c.add_argument("--parent", metavar="RUN", help="nest under this run (id or unique prefix)")
    _kv(c, "--param", "param (value parsed as JSON: lr=0.05 is a number, opt=adam text)")
    _kv(c, "--tag", "tag")
    c.add_argument("--owner-pid", type=int, help="process the run belongs to (default: the parent)")
    output.add_json(c, "a JSON object: run_id, experiment, parent_run_id")
    c.set_defaults(func=cmd_start)

    c = runs.add_parser("log", help="log params, metrics and tags to a run")
    c.add_argument("run", metavar="RUN")
    _kv(c, "--param", "param (value parsed as JSON)")
    _kv(c, "--metric", "metric (a number)")
    _kv(c, "--tag", "tag")
    c.add_argument("--step", type=int, default=0, help="step of the metrics (default 0)")
    output.add_json(c, "a JSON object: run_id, events, version")
    c.set_defaults(func=cmd_log)

    c = runs.add_parser("end", help="finish a run")
    c.add_argument("run", metavar="RUN")
    c.add_argument("--status", choices=["success", "failed", "aborted"], default="success")
    c.add_argument("--error", help="what went wrong (failed/aborted)")
    output.add_json(c, "a JSON object: run_id, status, version")
    c.set_defaults(func=cmd_end)

    c = runs.add_parser("list", help="runs, filtered and sorted (MLflow search syntax)")
    add_search_options(c)
    output.add_json(c, "a JSON array of runs")
    c.set_defaults(func=cmd_list)

    c = runs.add_parser("show", help="one run: params, metrics, tags, artifacts, child runs")
    c.add_argument("run", metavar="RUN")
    output.add_json(c, "a JSON object: the run with params, metrics, tags, artifacts, children")
    c.set_defaults(func=cmd_show)

    for name, helptext in (
        ("delete", "hide a run from the views (the audit keeps it)"),
        ("restore", "bring a deleted run back"),
    ):
        c = runs.add_parser(name, help=helptext)
        c.add_argument("run", metavar="RUN")
        if name == "delete":
            c.add_argument("--reason")
        output.add_json(c, "a JSON object: run_id, deleted, event_id")
        c.set_defaults(func=cmd_delete if name == "delete" else cmd_restore)

    c = runs.add_parser("history", help="every point of a run's metric (step, value, time)")
    c.add_argument("run", metavar="RUN")
    c.add_argument("key", nargs="?", metavar="METRIC", help="one metric (default: all)")
    output.add_json(c, "a JSON array of metric points")
    c.set_defaults(func=cmd_history)

    c = runs.add_parser("compare", help="params and metrics of runs side by side")
    c.add_argument("run_ids", nargs="+", metavar="RUN")
    output.add_json(c, "a JSON object: runs, params (an array), metrics (an array)")
    c.set_defaults(func=cmd_compare)


def _kv(p: argparse.ArgumentParser, flag: str, what: str) -> None:
    p.add_argument(
        flag, action="append", default=[], metavar="KEY=VALUE", help=f"{what}, repeatable"
    )


def pairs(values: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{flag} {item!r} must be KEY=VALUE")
        out[key.strip()] = value
    return out


def typed(value: str) -> ev.Scalar:
    """A param value with its JSON type when it is a JSON scalar, else the text itself."""
    try:
        parsed = msgspec.json.decode(value)
    except msgspec.DecodeError:
        return value
    return parsed if isinstance(parsed, str | int | float | bool) or parsed is None else value


def numbers(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in pairs(values, "--metric").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise InvalidInput(f"--metric {key}={value!r}: the value must be a number") from None
    return out


def _done(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        output.json_out(result)
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items() if v not in (None, {}, [])))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    params = {k: typed(v) for k, v in pairs(args.param, "--param").items()}
    tags = pairs(args.tag, "--tag")
    ledger = open_ledger(args, create=True)
    parent = resolve_run(ledger, args.parent) if args.parent else None
    owner = args.owner_pid if args.owner_pid is not None else os.getppid()
    ledger.log.writer = dataclasses.replace(ledger.log.writer, pid=owner)
    run = ledger.run(
        args.job,
        params=params,
        tags=tags,
        experiment=args.experiment,
        name=args.name,
        parent_run_id=parent,
    )
    return _done(
        args, {"run_id": run.run_id, "experiment": args.experiment, "parent_run_id": parent}
    )


def cmd_log(args: argparse.Namespace) -> int:
    params = {k: typed(v) for k, v in pairs(args.param, "--param").items()}
    metrics = numbers(args.metric)
    tags = pairs(args.tag, "--tag")
    if not (params or metrics or tags):
        raise InvalidInput("runs log: give at least one --param, --metric or --tag")
    ledger = open_ledger(args)
    run_id = resolve_run(ledger, args.run)
    batch: list[ev.Event] = [
        ev.ParamLogged(run_id=run_id, key=k, value=v) for k, v in params.items()
    ]
    batch += [
        ev.MetricLogged(run_id=run_id, key=k, value=v, step=args.step) for k, v in metrics.items()
    ]
    batch += [ev.TagSet(run_id=run_id, key=k, value=v) for k, v in tags.items()]
    committed = ledger.append(batch)
    return _done(
        args, {"run_id": run_id, "events": len(committed.events), "version": committed.version}
    )


def cmd_end(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    run_id = resolve_run(ledger, args.run)
    committed = ledger.append([ev.RunFinished(run_id=run_id, status=args.status, error=args.error)])
    return _done(args, {"run_id": run_id, "status": args.status, "version": committed.version})


def cmd_list(args: argparse.Namespace) -> int:
    check_search_options(args)
    frame = searched(open_ledger(args), "runs", args)
    emit(args, frame, LIST_COLUMNS, empty="(no runs)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    run_id = resolve_run(ledger, args.run)
    frame = api.view(ledger, "runs")
    row = frame.filter(pl.col("run_id") == run_id)
    if row.height == 0:
        raise InvalidInput(
            f"run {run_id} is deleted; `lakeledger runs restore {run_id}` brings it back"
        )
    run = json_rows(row)[0]
    run["children"] = frame.filter(pl.col("parent_run_id") == run_id)["run_id"].to_list()
    if args.json:
        output.json_out(run)
        return 0
    for key in (
        "run_id",
        "experiment",
        "name",
        "parent_run_id",
        "status",
        "status_reason",
        "started_at",
        "finished_at",
        "duration_s",
        "error",
        "started_by",
    ):
        if run.get(key) is not None:
            print(f"{key:14} {output.cell(run[key])}")
    for section in ("params", "metrics", "tags"):
        for key, value in sorted((run.get(section) or {}).items()):
            print(f"{section[:-1]:14} {key} = {msgspec.json.encode(value).decode()}")
    for name in run["artifacts"]:
        print(f"{'artifact':14} {name}")
    for child in run["children"]:
        print(f"{'child run':14} {child}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    run_id = resolve_run(ledger, args.run)
    event = ledger.delete_run(run_id, args.reason)
    return _done(args, {"run_id": run_id, "deleted": True, "event_id": event.event_id})


def cmd_restore(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    run_id = resolve_run(ledger, args.run)
    event = ledger.restore_run(run_id)
    return _done(args, {"run_id": run_id, "deleted": False, "event_id": event.event_id})


def cmd_history(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    frame = api.metric_history(ledger, resolve_run(ledger, args.run), args.key)
    emit(args, frame, ["key", "step", "value", "occurred_at"], empty="(no metric points)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    ids = list(dict.fromkeys(resolve_run(ledger, r) for r in args.run_ids))
    state, _ = api.state_of(ledger, "runs")
    params = (
        state["params"]
        .filter(pl.col("run_id").is_in(ids))
        .with_columns(pl.col("value").map_elements(_shown, return_dtype=pl.String))
        .select(pl.lit("param").alias("what"), "key", "run_id", "value")
    )
    metrics = state["metrics"].filter(pl.col("run_id").is_in(ids))
    if args.json:
        output.json_out({"runs": ids, "params": json_rows(params), "metrics": json_rows(metrics)})
        return 0
    shown = metrics.select(
        pl.lit("metric").alias("what"),
        "key",
        "run_id",
        pl.format(
            "{} (min {}, max {})",
            pl.col("last").round(6),
            pl.col("min").round(6),
            pl.col("max").round(6),
        ).alias("value"),
    )
    long = pl.concat([params, shown])
    if long.height == 0:
        print("(these runs logged no params or metrics)")
        return 0
    wide = long.pivot(on="run_id", index=["what", "key"], values="value").sort(
        "what", "key", descending=[True, False]
    )
    present = [r for r in ids if r in wide.columns]
    differs = pl.concat_list([pl.col(r).cast(pl.String) for r in present]).list.n_unique() > 1
    wide = wide.with_columns(pl.when(differs).then(pl.lit("*")).otherwise(pl.lit("")).alias("diff"))
    output.table(wide, ["what", "key", "diff", *present])
    return 0


def _shown(text: str) -> str:
    value = json_value(text)
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()
