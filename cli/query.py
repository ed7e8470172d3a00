"""The search options every listing takes (``--filter``, ``--order-by``, ``--limit``,
``--columns``, ``--as-of``), and unique id prefixes (``lakeledger runs show 0193ab``)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from lakeledger.cli import output
from lakeledger.projections import api
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from lakeledger.store.query import Moment

JSON_COLUMNS = frozenset({"params", "metrics", "metric_stats", "tags", "observed", "expected"})


def add_search_options(p: argparse.ArgumentParser, *, as_of: bool = True) -> None:
    p.add_argument(
        "--filter",
        metavar="EXPR",
        help="MLflow search syntax plus OR and parentheses, e.g. "
        "\"metrics.auc > 0.9 and params.lr = '0.05' and tags.team != 'x'\"",
    )
    p.add_argument("--order-by", action="append", metavar="FIELD [ASC|DESC]", help="sort key")
    p.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    p.add_argument(
        "--columns", metavar="F1,F2", help="fields to show, e.g. run_id,metrics.auc,params.lr"
    )
    if as_of:
        p.add_argument("--as-of", help="as of a version or ISO time (UTC if no zone)")


def searched(ledger: Ledger, view: str, args: argparse.Namespace) -> pl.DataFrame:
    return api.search(
        ledger,
        view,
        args.filter,
        order_by=args.order_by,
        limit=args.limit,
        columns=args.columns,
        as_of=getattr(args, "as_of", None),
    )


def check_search_options(args: argparse.Namespace) -> None:
    """Bad options are bad usage: raise before touching storage."""
    from lakeledger.projections import search

    search.parse(args.filter or "")
    if args.order_by:
        search.parse_order(args.order_by)
    if args.columns:
        search.parse_columns(args.columns)
    if args.limit is not None and args.limit < 0:
        raise InvalidInput(f"--limit {args.limit} must be 0 or more")
    Moment.parse(getattr(args, "as_of", None))


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``--json``: JSON text columns become JSON values again."""
    rows = frame.to_dicts()
    for row in rows:
        for col in JSON_COLUMNS & row.keys():
            if isinstance(row[col], str):
                with contextlib.suppress(msgspec.DecodeError):
                    row[col] = msgspec.json.decode(row[col])
    return rows


def emit(
    args: argparse.Namespace, frame: pl.DataFrame, columns: Sequence[str], empty: str = "(nothing)"
) -> None:
    """JSON rows, or a table of ``columns`` (every column when ``--columns`` chose them)."""
    if args.json:
        output.json_out(json_rows(frame))
        return
    shown = list(frame.columns) if getattr(args, "columns", None) else columns
    output.table(frame, [c for c in shown if c in frame.columns], empty=empty)


def resolve(candidates: Sequence[str], given: str, what: str, hint: str) -> str:
    """The one candidate ``given`` equals or starts; a clear error when none or several."""
    if given in candidates:
        return given
    matches = [c for c in candidates if c.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInput(f"no {what} {given!r}; {hint}")
    shown = ", ".join(sorted(matches)[:5])
    raise InvalidInput(
        f"{what} prefix {given!r} is ambiguous ({len(matches)} match: {shown}...); give more of it"
    )


def run_ids(ledger: Ledger) -> list[str]:
    """Every run id ever started (deleted runs too: they can be restored)."""
    frame = (
        ledger.log.scan(dedupe=False)
        .filter(pl.col("kind") == "run.started")
        .select(pl.col("stream").str.slice(4).alias("run_id"))
        .unique()
        .collect()
    )
    return frame["run_id"].to_list()


def resolve_run(ledger: Ledger, given: str) -> str:
    return resolve(run_ids(ledger), given, "run", "list runs with `lakeledger runs list`")
