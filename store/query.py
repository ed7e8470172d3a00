"""Filters over the event log: kind, stream, since-version, as-of version or time.

As-of works from the rows themselves (``version`` and ``recorded_at`` stamped at commit), so
it reaches back over the ledger's whole life, not only the Delta log's retention window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl

from .errors import InvalidInput

AsOf = int | datetime | str | None


@dataclass(frozen=True)
class Moment:
    """A point in the ledger's history: a commit version or a UTC time."""

    version: int | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, value: AsOf) -> Moment | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise InvalidInput("as-of must be a version number or an ISO time, not a boolean")
        if isinstance(value, int):
            if value < 0:
                raise InvalidInput(f"as-of version {value} is negative; versions start at 1")
            return cls(version=value)
        if isinstance(value, datetime):
            return cls(time=value if value.tzinfo else value.replace(tzinfo=UTC))
        text = str(value).strip()
        if text.isdigit():
            return cls(version=int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"as-of {text!r} is neither a version number nor an ISO time; "
                "give e.g. 42 or 2025-03-01T12:00:00Z (times without a zone are UTC)"
            ) from None
        return cls(time=moment if moment.tzinfo else moment.replace(tzinfo=UTC))

    def predicate(self) -> pl.Expr:
        if self.version is not None:
            return pl.col("version") <= self.version
        assert self.time is not None
        return pl.col("recorded_at") <= pl.lit(self.time.astimezone(UTC)).cast(
            pl.Datetime("us", "UTC")
        )

    def __str__(self) -> str:
        return (
            f"version {self.version}"
            if self.version is not None
            else f"{self.time:%Y-%m-%dT%H:%M:%S%z}"
        )


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def dedupe(frame: Frame) -> Frame:
    """Keep the earliest commit of each event id (lakeledger never writes an id twice; this
    hides copies a foreign Delta writer may have added). The one dedupe of event rows."""
    return frame.filter(pl.col("version") == pl.col("version").min().over("event_id"))


def filter_events(
    frame: pl.LazyFrame,
    *,
    kind: str | list[str] | None = None,
    stream: str | list[str] | None = None,
    since: int | None = None,
    as_of: AsOf = None,
    deduplicate: bool = False,
) -> pl.LazyFrame:
    """Apply the standard filters; ``kind`` accepts a prefix ending in ``.`` or ``*``.

    With ``deduplicate``, kind, stream and as-of filter first (copies of an id share its kind
    and stream, and the earliest copy is the one kept), so the dedupe window runs over the
    matching rows only; ``since`` filters after it, or a late copy would read as new.
    """
    if kind:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        expr = pl.lit(False)
        for k in kinds:
            if k.endswith(("*", ".")):
                expr = expr | pl.col("kind").str.starts_with(k.rstrip("*"))
            else:
                expr = expr | (pl.col("kind") == k)
        frame = frame.filter(expr)
    if stream:
        streams = [stream] if isinstance(stream, str) else list(stream)
        frame = frame.filter(pl.col("stream").is_in(streams))
    moment = Moment.parse(as_of)
    if moment is not None:
        frame = frame.filter(moment.predicate())
    if deduplicate:
        frame = dedupe(frame)
    if since is not None:
        frame = frame.filter(pl.col("version") > since)
    return frame
