"""The one partition-label codec: period labels <-> hive paths and date-in-name file names.

Every producer (stages, ingestion, the watcher) writes and records partitions through this module
and the coverage view reads them back through it, so a weekly stage's ``year=2025/week=10/`` is
the period ``2025-W10`` for all of them. Labels are those of ``periods.label``: ``H``
2025-03-05T07, ``D`` 2025-03-05, ``W`` 2025-W10 (ISO week), ``M`` 2025-03, ``Q`` 2025-Q1, ``Y`` 2025.

Layouts:
- ``hive``: ``key=value`` directories; the calendar keys (``year/month/day/hour``,
  ``year/week``, ``year/quarter``) collapse into one label, a single ``date=...`` key gives its
  value, other keys (``region=eu``) stay as ``k=v`` segments, the *group* of the partition;
- ``date-name``: the label (or a date, ``20250305``) in a file or directory name;
- ``auto``: hive components when a path has any, else a date in the name.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote

import polars as pl

from .errors import InvalidInput
from .periods import LABEL_PATTERNS, check_freq, from_groups, label, start_of, truncate

Layout = Literal["auto", "hive", "date-name"]
LAYOUTS: tuple[Layout, ...] = ("auto", "hive", "date-name")

HIVE_KEYS: dict[str, list[str]] = {
    "H": ["year", "month", "day", "hour"],
    "D": ["year", "month", "day"],
    "W": ["year", "week"],  # ISO year and week
    "M": ["year", "month"],
    "Q": ["year", "quarter"],
    "Y": ["year"],
}
_CALENDAR = {tuple(keys): freq for freq, keys in HIVE_KEYS.items()}
_CALENDAR_KEYS = {"year", "month", "day", "hour", "week", "quarter"}
# In names: the most precise first; bounded by non-digits so "v20250305x" still reads.
_IN_NAME = (
    ("H", re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})T(\d{2})(?!\d)")),
    ("D", re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")),
    ("D", re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")),
    ("W", re.compile(r"(?<!\d)(\d{4})-W(\d{2})(?!\d)")),
    ("Q", re.compile(r"(?<!\d)(\d{4})-Q([1-4])(?!\d)")),
    ("M", re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")),
)
_YEAR_IN_NAME = re.compile(r"(?<![\d-])(\d{4})(?![\d-])")


def hive_exprs(column: str, freq: str) -> list[pl.Expr]:
    """Partition columns (strings, zero-padded as in ``hive_path``) for a date/datetime column."""
    col = pl.col(column)
    parts = {
        "year": col.dt.strftime("%G" if freq == "W" else "%Y"),
        "month": col.dt.strftime("%m"),
        "day": col.dt.strftime("%d"),
        "hour": col.dt.strftime("%H"),
        "week": col.dt.strftime("%V"),
        "quarter": col.dt.quarter().cast(pl.String),
    }
    return [parts[k].alias(k) for k in HIVE_KEYS[check_freq(freq)]]


# -- hive -----------------------------------------------------------------------------------------
def hive_values(text: str, freq: str) -> dict[str, str]:
    """``{"year": "2025", "month": "03"}`` for ``2025-03`` at ``M``."""
    start = start_of(text, freq)
    if freq == "W":
        iso = start.isocalendar()
        return {"year": f"{iso.year:04d}", "week": f"{iso.week:02d}"}
    values = {
        "year": f"{start.year:04d}",
        "month": f"{start.month:02d}",
        "day": f"{start.day:02d}",
        "hour": f"{start.hour:02d}",
        "quarter": str((start.month - 1) // 3 + 1),
    }
    return {k: values[k] for k in HIVE_KEYS[freq]}


def hive_path(text: str, freq: str, root: str | None = None) -> str:
    """``year=2025/month=03`` (under ``root`` when given)."""
    rel = "/".join(f"{k}={v}" for k, v in hive_values(text, freq).items())
    return f"{root.rstrip('/')}/{rel}" if root else rel


def label_of_hive(values: dict[str, str], freq: str) -> str:
    """The inverse of ``hive_values``."""
    found = _calendar_label({k.lower(): v for k, v in values.items()})
    if found is None or found[1] != check_freq(freq):
        raise InvalidInput(f"hive values {values} do not name a {freq} period")
    return found[0]


def _calendar_label(values: dict[str, str]) -> tuple[str, str] | None:
    """(label, freq) of calendar hive values (``year``+``week`` -> ``2025-W10``), else None."""
    freq = _CALENDAR.get(tuple(k for k in ("year", "month", "day", "hour", "week", "quarter")
                               if k in values))
    if freq is None or not all(values[k].isdigit() for k in HIVE_KEYS[freq]):
        return None
    n = {k: int(values[k]) for k in HIVE_KEYS[freq]}
    try:
        if freq == "W":
            moment = datetime.combine(date.fromisocalendar(n["year"], n["week"], 1), datetime.min.time(), UTC)
        elif freq == "Q":
            if not 1 <= n["quarter"] <= 4:
                return None
            moment = datetime(n["year"], 3 * n["quarter"] - 2, 1, tzinfo=UTC)
        else:
            moment = datetime(n["year"], n.get("month", 1), n.get("day", 1), n.get("hour", 0), tzinfo=UTC)
    except ValueError:
        return None
    return label(moment, freq), freq


def partition_label(pairs: list[tuple[str, str]]) -> str:
    """The recorded partition of hive ``key=value`` pairs: calendar keys collapse into a label
    (kept where the first of them stood), one single key gives its bare value, others stay."""
    calendar = {k.lower(): v for k, v in pairs if k.lower() in _CALENDAR_KEYS}
    found = _calendar_label(calendar) if calendar else None
    if found is None:
        if len(pairs) == 1:
            return pairs[0][1]
        return "/".join(f"{k}={v}" for k, v in pairs)
    out: list[str] = []
    for k, v in pairs:
        if k.lower() not in calendar:
            out.append(f"{k}={v}")
        elif found[0] not in out:
            out.append(found[0])
    return "/".join(out)


def hive_pairs(parts: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for part in parts:
        key, sep, value = part.partition("=")
        if sep and key and value:
            pairs.append((unquote(key), unquote(value)))
    return pairs


# -- date in name ---------------------------------------------------------------------------------
def name_of(text: str, freq: str, prefix: str = "part", suffix: str = ".parquet") -> str:
    """A date-in-name file name for the period ``text`` (``part_2025-W10.parquet``)."""
    start_of(text, freq)
    return f"{prefix}_{text}{suffix}"


def date_in_name(name: str, *, years: bool = False) -> str | None:
    """The first period label in ``name`` (hour, day, ``20250301``, week, quarter, month; a bare
    year only with ``years``, since four digits in a name are often something else)."""
    for freq, pattern in _IN_NAME:
        for match in pattern.finditer(name):
            moment = from_groups(freq, match)
            if moment is not None and (freq != "M" or 1 <= int(match.group(2)) <= 12):
                return label(moment, freq)
    if years and (match := _YEAR_IN_NAME.search(name)):
        return match.group(1)
    return None


def partition_of(relpath: str, layout: Layout = "auto", *, is_dir: bool = False,
                 freq: str | None = None) -> str | None:
    """The partition of a data file (or Delta table directory) at ``relpath``, relative to the
    watched directory; ``None`` when the layout cannot tell."""
    parts = [p for p in relpath.replace(os.sep, "/").split("/") if p]
    dirs = parts if is_dir else parts[:-1]
    if layout in ("hive", "auto"):
        pairs = hive_pairs(dirs)
        if pairs:
            return partition_label(pairs)
        if layout == "hive":
            return None
    for part in reversed(parts):  # the file's own name first, then its nearest directories
        stem = part.rsplit(".", 1)[0] if "." in part else part
        found = date_in_name(stem, years=freq == "Y")
        if found:
            return found
    return None


# -- reading a recorded partition back (the coverage view) ----------------------------------------
_FORMATS = ("%Y-%m-%d %H", "%Y%m%d%H", "%Y%m%d", "%Y%m", "%Y")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$")


@lru_cache(maxsize=65536)
def parse_time(value: str) -> datetime | None:
    """The instant a partition value names: any label, an ISO date/datetime, ``20250301``..."""
    text = value.strip()
    if m := _WEEK.match(text):
        try:
            return datetime.combine(date.fromisocalendar(int(m[1]), int(m[2]), 1), datetime.min.time(), UTC)
        except ValueError:
            return None
    if m := _QUARTER.match(text):
        return datetime(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1, tzinfo=UTC)
    if m := LABEL_PATTERNS["H"].match(text):
        return from_groups("H", m)
    if m := LABEL_PATTERNS["M"].match(text):
        return from_groups("M", m)
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
    """(group, time) of a recorded partition; time None when no segment reads as a time.

    Calendar hive keys (``year=2025/week=10``) are read together, so partitions recorded by
    older watchers, before they collapsed them into labels, still count for the right period.
    """
    segments = [s for s in partition.strip("/").split("/") if s]
    if segments and not any("=" in s for s in segments):
        return "", parse_time("-".join(segments))
    named = [(k, v) if sep else ("", k) for k, sep, v in (s.partition("=") for s in segments)]
    calendar = {k.lower(): v for k, v in named if k.lower() in _CALENDAR_KEYS}
    found = _calendar_label(calendar) if calendar else None
    if found is not None:
        group = "/".join(f"{k}={v}" if k else v for k, v in named if k.lower() not in calendar)
        return group, start_of(*found)
    order = [i for k in keys for i, (name, _) in enumerate(named) if name == k]
    order += [i for i in range(len(named)) if i not in order]
    for i in order:
        moment = parse_time(named[i][1])
        if moment is not None:
            group = "/".join(f"{k}={v}" if k else v for j, (k, v) in enumerate(named) if j != i)
            return group, moment
    return "/".join(segments), None


def period_label(partition: str, freq: str, keys: tuple[str, ...] = ()) -> str | None:
    """The ``freq`` label of the period a recorded partition falls in (None: no time in it)."""
    group, moment = split_partition(partition, keys)
    if moment is None:
        return None
    text = label(truncate(moment, freq), freq)
    return f"{group}/{text}" if group else text
