"""Commands on the read side: rebuild, show, audit, diff, check, runs compare."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import msgspec
import polars as pl
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.cli.query import add_search_options, check_search_options
from lakeledger.projections import api, registry
from lakeledger.projections.audit import audit, audit_streams, diff
from lakeledger.projections.views.artifacts import artifact_history
from lakeledger.projections.views.models import model_stage_history
from lakeledger.projections.views.validations import validation_history
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment

_HISTORY = {
    "artifacts": artifact_history,
    "models": model_stage_history,
    "validations": validation_history,
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    names = ", ".join(registry.VIEWS)
    p = sub.add_parser(
        "rebuild", help="refresh materialised views (incremental; --full from all events)"
    )
    p.add_argument(
        "views", nargs="*", metavar="VIEW", help=f"views to refresh (default all: {names})"
    )
    p.add_argument(
        "--full", action="store_true", help="rebuild from every event instead of the new ones"
    )
    output.add_json(p, "a JSON array: one object per view refreshed")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("show", help=f"show a view ({names})")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--as-of", help="the view as of a version or ISO time (UTC if no zone)")
    p.add_argument(
        "--where", action="append", metavar="COL=VALUE", help="keep rows where COL equals VALUE"
    )
    p.add_argument(
        "--history", action="store_true", help="every event behind artifacts/models/validations"
    )
    add_search_options(p, as_of=False)
    output.add_json(p, "a JSON array of the view's rows")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("audit", help="timeline of one stream: what happened, who, when")
    p.add_argument(
        "stream", metavar="STREAM", help="e.g. model/fraud, artifact/features, dataset/sales"
    )
    p.add_argument("--as-of", help="only what was recorded up to this version or ISO time")
    output.add_json(p, "a JSON array of the stream's events, oldest first")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("diff", help="rows added, changed, removed in a view between two moments")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--from", dest="since", required=True, metavar="T1", help="version or ISO time")
    p.add_argument("--to", dest="until", metavar="T2", help="version or ISO time (default: now)")
    output.add_json(p, "a JSON array of changes (change, key, columns, before, after)")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser(
        "check", help="integrity gate: exit 1 listing stale/missing/orphaned/uncovered/failing"
    )
    p.add_argument("--as-of", help="the gate as of a version or ISO time")
    p.add_argument(
        "--limit", type=int, default=20, help="problems listed in the table (default 20)"
    )
    output.add_json(p, "a JSON object: ok, problems (an array), warnings (an array)")
    p.set_defaults(func=cmd_check)


def _json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dicts()
    for row in rows:
        for col in registry.JSON_COLUMNS & row.keys():
            if isinstance(row[col], str):
                with contextlib.suppress(msgspec.DecodeError):  # else a plain string value
                    row[col] = msgspec.json.decode(row[col])
    return rows


def _print(args: argparse.Namespace, frame: pl.DataFrame, columns: list[str] | None = None) -> None:
    if args.json:
        output.json_out(_json_rows(frame))
    else:
        output.table(frame, [c for c in (columns or frame.columns) if c in frame.columns])


def _where(frame: pl.DataFrame, clauses: list[str] | None) -> pl.DataFrame:
    for clause in clauses or []:
        col, sep, value = clause.partition("=")
        if not sep or not col:
            raise InvalidInput(f"--where {clause!r} must be COL=VALUE")
        if col not in frame.columns:
            raise InvalidInput(
                f"--where: the view has no column {col!r}; columns: {', '.join(frame.columns)}"
            )
        frame = frame.filter(_text(pl.col(col), frame.schema[col]) == value)
    return frame


def _text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return expr.cast(pl.String).str.to_lowercase()
    if isinstance(dtype, pl.List):
        return expr.list.join(",")
    return expr.cast(pl.String)


def cmd_rebuild(args: argparse.Namespace) -> int:
    names = registry.names(args.views)
    done = api.refresh(open_ledger(args), names, full=args.full)
    rows = [
        {
            "view": d.view,
            "through": d.through,
            "events": d.events,
            "mode": "full" if d.full else "incremental",
            "ms": round(d.seconds * 1000, 1),
        }
        for d in done
    ]
    output.emit(args, rows, ["view", "through", "events", "mode", "ms"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    view = registry.get(args.view)
    Moment.parse(args.as_of)  # bad --as-of is bad usage, before touching storage
    check_search_options(args)
    ledger = open_ledger(args)
    searching = args.filter or args.order_by or args.limit is not None or args.columns
    if args.history and searching:
        raise InvalidInput("--history lists events: --filter/--order-by/--limit/--columns need a view")
    if args.history:
        if view.name not in _HISTORY:
            raise InvalidInput(f"--history is available for {', '.join(_HISTORY)}, not {view.name}")
        events = api.read_events(ledger, as_of=args.as_of, kinds=view.kinds)
        frame = _HISTORY[view.name](events.lazy())
        _print(args, _where(frame, args.where))
        return 0
    if searching:
        frame = api.search(
            ledger,
            view.name,
            args.filter,
            order_by=args.order_by,
            limit=args.limit,
            columns=args.columns,
            as_of=args.as_of,
        )
        if args.where and args.columns:
            raise InvalidInput("--where needs the view's columns: use --filter with --columns")
        frame = _where(frame, args.where)
        _print(args, frame, None if args.columns else list(view.columns))
        return 0
    frame = _where(api.view(ledger, view.name, args.as_of), args.where)
    _print(args, frame, list(view.columns))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if "/" not in args.stream:
        raise InvalidInput(
            f"stream {args.stream!r} must be KIND/NAME, e.g. model/fraud or dataset/sales"
        )
    Moment.parse(args.as_of)
    ledger = open_ledger(args)
    events = api.read_events(ledger, as_of=args.as_of, streams=audit_streams(args.stream))
    frame = audit(events.lazy(), args.stream)
    if args.json:
        output.json_out(_json_rows(frame))
    elif frame.height == 0:
        print(f"(nothing recorded for {args.stream})")
    else:
        output.table(frame, ["version", "recorded_at", "kind", "who", "details"])
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    view = registry.get(args.view)
    Moment.parse(args.since)
    Moment.parse(args.until)
    ledger = open_ledger(args)
    before = api.view(ledger, view.name, args.since)
    after = api.view(ledger, view.name, args.until)
    changes = diff(before, after, view.key)
    if args.json:
        output.json_out(_json_rows(changes))
    else:
        output.table(changes, ["change", "key", "columns", "before", "after"], empty="(no changes)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    Moment.parse(args.as_of)
    report = api.check(open_ledger(args), args.as_of)
    if args.json:
        output.json_out(
            {"ok": report.ok, "problems": report.rows(), "warnings": report.warning_rows()}
        )
        return 0 if report.ok else 1
    if report.warnings:
        output.table(report.warning_rows(), ["warning", "subject", "detail", "view"])
        print(f"{len(report.warnings)} warning(s) (not failures)")
    if report.ok:
        print("ok: nothing stale, missing, orphaned, uncovered or failing")
    else:
        rows = report.rows()
        output.table(rows[: args.limit], ["problem", "subject", "detail", "view"])
        more = len(rows) - args.limit
        tail = f" (showing {args.limit}; --limit N or --json for the rest)" if more > 0 else ""
        print(f"{len(rows)} problem(s) found{tail}")
    return 0 if report.ok else 1
