"""Audit trails and diffs: what happened to one stream, and how a view changed between moments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from lakeledger.store.codec import payload_object

_ENVELOPE = {"kind", "event_id", "schema_version", "occurred_at"}


def audit_streams(stream: str) -> list[str]:
    """The streams an audit of ``stream`` covers: itself and validations targeting it."""
    name = stream.split("/", 1)[1] if "/" in stream else stream
    return [stream, f"validation/{stream}", f"validation/{name}"]


def audit(events: pl.LazyFrame, stream: str) -> pl.DataFrame:
    """The timeline of ``stream`` (``model/fraud``, ``artifact/features``, ``dataset/sales``...):
    its own events, plus validations whose target is the stream or its name; oldest first."""
    frame = (
        events.filter(pl.col("stream").is_in(audit_streams(stream)))
        .sort("version", "seq")
        .select(
            "version",
            "recorded_at",
            "occurred_at",
            "kind",
            "stream",
            "writer_user",
            "writer_host",
            "writer_pid",
            "event_id",
            "payload",
        )
        .collect()
    )
    details = [_details(p) for p in frame["payload"].to_list()]
    return (
        frame.drop("payload")
        .with_columns(
            pl.format("{}@{}", "writer_user", "writer_host").alias("who"),
            pl.Series("details", details, dtype=pl.String),
        )
        .select(
            "version",
            "recorded_at",
            "kind",
            "who",
            "details",
            "stream",
            "occurred_at",
            "writer_pid",
            "event_id",
        )
    )


def _details(payload: str) -> str:
    body = payload_object(payload)
    return msgspec.json.encode(
        {k: v for k, v in body.items() if k not in _ENVELOPE and v not in (None, [], {})}
    ).decode()


def diff(before: pl.DataFrame, after: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """Rows added, removed and changed from ``before`` to ``after`` (matched on ``key``)."""
    key = list(key)
    old = {tuple(r[k] for k in key): r for r in before.iter_rows(named=True)}
    new = {tuple(r[k] for k in key): r for r in after.iter_rows(named=True)}
    out: list[dict[str, Any]] = []
    for k in sorted(old.keys() | new.keys(), key=lambda t: tuple(str(v) for v in t)):
        a, b = old.get(k), new.get(k)
        if a is None or b is None:
            change, columns = ("added", []) if a is None else ("removed", [])
        else:
            columns = [c for c in b if c not in key and a.get(c) != b.get(c)]
            if not columns:
                continue
            change = "changed"
        row = b if b is not None else a
        assert row is not None
        out.append(
            {
                "change": change,
                "key": "/".join(str(v) for v in k),
                "columns": columns,
                "before": _text(a, columns),
                "after": _text(b, columns),
            }
        )
    schema = {
        "change": pl.String,
        "key": pl.String,
        "columns": pl.List(pl.String),
        "before": pl.String,
        "after": pl.String,
    }
    return pl.DataFrame(out, schema=schema)


def _text(row: dict[str, Any] | None, columns: list[str]) -> str | None:
    if row is None:
        return None
    shown = {c: row[c] for c in columns} if columns else row
    return msgspec.json.encode(shown).decode()
