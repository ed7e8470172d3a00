"""CLI output: aligned tables for people, JSON for machines (``--json``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO

import msgspec
import polars as pl


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


def table(
    rows: Sequence[dict[str, Any]] | pl.DataFrame,
    columns: Sequence[str] | None = None,
    out: TextIO | None = None,
    empty: str = "(nothing)",
) -> None:
    """Print rows as an aligned text table."""
    out = out or sys.stdout
    if isinstance(rows, pl.DataFrame):
        columns = list(columns or rows.columns)
        rows = rows.select(columns).to_dicts()
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
    if isinstance(value, pl.DataFrame):
        return value.to_dicts()
    return value


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
