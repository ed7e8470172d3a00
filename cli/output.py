"""CLI output: aligned tables for people, JSON for machines.

The output options are declared here once, so they mean the same everywhere: ``--json`` prints
one JSON document (an array for listings, an object where one thing is printed) and its help says
which; JSON Lines (one document per line, for streams) only behind an option named ``--jsonl``.
polars is not imported here: a command that prints plain rows starts without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

if TYPE_CHECKING:
    import polars as pl

SHAPES = ("a JSON array", "a JSON object")


class JsonOption(argparse._StoreTrueAction):
    """``--json``: print one JSON document instead of the table (see ``add_json``)."""


class JsonLinesOption(argparse._StoreTrueAction):
    """``--jsonl``: print JSON Lines, one document per line as things happen (``add_jsonl``)."""


def add_json(parser: argparse._ActionsContainer, prints: str) -> argparse.Action:
    """Add ``--json``; ``prints`` says what it prints: "a JSON array of ..." or "a JSON object ..."."""
    if not prints.startswith(SHAPES):
        raise ValueError(f"--json prints one JSON document: say {SHAPES[0]!r} or {SHAPES[1]!r}")
    return parser.add_argument("--json", action=JsonOption, help=f"print {prints}")


def add_jsonl(parser: argparse._ActionsContainer, prints: str) -> argparse.Action:
    """Add ``--jsonl``; ``prints`` says what each line is."""
    return parser.add_argument("--jsonl", action=JsonLinesOption, help=f"print JSON Lines: {prints}")


def cell(value: Any, width: int = 60) -> str:
    """One value as short text for a table cell (the CLI and the dashboard show values alike)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list | tuple):
        text = ",".join(cell(v, width) for v in value)
    elif isinstance(value, dict):
        text = msgspec.json.encode(value).decode()
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _frame(value: Any) -> pl.DataFrame | None:
    """``value`` if it is a polars DataFrame (only possible once polars was imported)."""
    polars = sys.modules.get("polars")
    return value if polars is not None and isinstance(value, polars.DataFrame) else None


def table(
    rows: Sequence[dict[str, Any]] | pl.DataFrame,
    columns: Sequence[str] | None = None,
    out: TextIO | None = None,
    empty: str = "(nothing)",
) -> None:
    """Print rows as an aligned text table."""
    out = out or sys.stdout
    frame = _frame(rows)
    if frame is not None:
        columns = list(columns or frame.columns)
        rows = frame.select(columns).to_dicts()
    rows = list(rows)
    if not rows:
        print(empty, file=out)
        return
    columns = list(columns or rows[0].keys())
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print(
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        file=out,
    )
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def to_jsonable(value: Any) -> Any:
    frame = _frame(value)
    return frame.to_dicts() if frame is not None else value


def json_out(value: Any, out: TextIO | None = None) -> None:
    """Print a JSON value (DataFrames become arrays of objects); datetimes as RFC 3339."""
    out = out or sys.stdout
    out.write(msgspec.json.encode(to_jsonable(value)).decode())
    out.write("\n")


def emit(
    args: Any,
    rows: pl.DataFrame | list[dict[str, Any]],
    columns: Sequence[str] | None = None,
    empty: str = "(nothing)",
) -> None:
    if getattr(args, "json", False):
        json_out(rows)
    else:
        table(rows, columns, empty=empty)
