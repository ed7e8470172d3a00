"""Time periods of a dataset's frequency, and how a partition string maps to one.

A partition is ``k=v`` segments joined by ``/`` (``region=eu/date=2025-03-01``) or bare values
(``2025-03-01``, ``2025/03/01``). Its *time value* is the value of the first key of the
dataset's ``partition_key`` that parses as a time (else of the first segment that does; bare
segments are joined with ``-``); the other segments form its *group* (``region=eu``). Times are
read as ISO dates or datetimes (``2025-03-01``, ``2025-03-01T05``, ``20250301``), months
(``2025-03``), ISO weeks (``2025-W09``), quarters (``2025-Q1``) or years (``2025``), and the
period is the one of the dataset's freq (H, D, W, M, Q, Y) that contains that time
(arithmetic and labels: ``lakeledger.store.periods``, shared with the producers).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

from lakeledger.store.periods import expected, label, step, truncate

_FORMATS = ("%Y-%m-%dT%H", "%Y-%m-%d %H", "%Y%m%d%H", "%Y%m%d", "%Y-%m", "%Y%m", "%Y")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$")


@lru_cache(maxsize=65536)
def parse_time(value: str) -> datetime | None:
    text = value.strip()
    if m := _WEEK.match(text):
        try:
            return datetime.combine(
                date.fromisocalendar(int(m[1]), int(m[2]), 1), datetime.min.time(), UTC
            )
        except ValueError:
            return None
    if m := _QUARTER.match(text):
        return datetime(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if len(text) >= 8:
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@lru_cache(maxsize=65536)
def split_partition(partition: str, keys: tuple[str, ...]) -> tuple[str, datetime | None]:
    """(group, time) of a partition string; time None when no segment reads as a time."""
    segments = [s for s in partition.strip("/").split("/") if s]
    if segments and not any("=" in s for s in segments):
        return "", parse_time("-".join(segments))
    pairs = [s.partition("=") for s in segments]
    named = [(k, v) for k, _, v in pairs]
    order = [i for k in keys for i, (name, _) in enumerate(named) if name == k]
    order += [i for i in range(len(named)) if i not in order]
    for i in order:
        moment = parse_time(named[i][1])
        if moment is not None:
            group = "/".join(f"{k}={v}" if k else v for j, (k, v) in enumerate(named) if j != i)
            return group, moment
    return "/".join(segments), None


__all__ = ["expected", "label", "parse_time", "split_partition", "step", "truncate"]
