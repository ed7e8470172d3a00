"""Time periods for partitioned data as producers need them: labels from dates or strings,
expected ranges, hive paths, coverage. The arithmetic and the label format are
``lakeledger.store.periods``, shared with the coverage view. Naive inputs are taken as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
from lakeledger.store import periods
from lakeledger.store.errors import InvalidInput
from lakeledger.store.periods import FREQS, Freq

HIVE_KEYS: dict[str, list[str]] = {
    "H": ["year", "month", "day", "hour"],
    "D": ["year", "month", "day"],
    "W": ["year", "week"],  # ISO year and week
    "M": ["year", "month"],
    "Q": ["year", "quarter"],
    "Y": ["year"],
}

_LABEL = {
    "H": re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$"),
    "D": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "W": re.compile(r"^(\d{4})-W(\d{2})$"),
    "M": re.compile(r"^(\d{4})-(\d{2})$"),
    "Q": re.compile(r"^(\d{4})-Q([1-4])$"),
    "Y": re.compile(r"^(\d{4})$"),
}


def check_freq(freq: str) -> Freq:
    if freq not in FREQS:
        raise InvalidInput(f"frequency {freq!r} is not one of {', '.join(FREQS)}")
    return freq  # type: ignore[return-value]


def _utc(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def period_of(moment: date | datetime, freq: str) -> str:
    """The label of the period containing ``moment``."""
    return periods.label(_utc(moment), check_freq(freq))


def period_start(label: str, freq: str) -> datetime:
    """The first instant (UTC) of the period ``label``."""
    match = _LABEL[check_freq(freq)].match(label)
    if not match:
        raise InvalidInput(
            f"{label!r} is not a {freq} period label (e.g. {period_of(date(2025, 3, 5), freq)})"
        )
    parts = [int(p) for p in match.groups()]
    try:
        if freq == "W":
            return datetime.fromisocalendar(parts[0], parts[1], 1).replace(tzinfo=UTC)
        if freq == "Q":
            return datetime(parts[0], 3 * parts[1] - 2, 1, tzinfo=UTC)
        return datetime(*(parts + [1] * (3 - len(parts))), tzinfo=UTC)  # type: ignore[misc]
    except ValueError as exc:
        raise InvalidInput(f"{label!r} is not a valid {freq} period: {exc}") from None


def next_period(label: str, freq: str) -> str:
    return periods.label(periods.step(period_start(label, freq), freq), freq)


def parse_moment(value: date | datetime | str, freq: str) -> datetime:
    """A UTC datetime from a date, datetime, ISO string or ``freq`` period label."""
    if isinstance(value, date):
        return _utc(value)
    text = value.strip()
    if _LABEL[freq].match(text):
        return period_start(text, freq)
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is neither an ISO date/time nor a {freq} period label"
        ) from None


def expected_periods(
    start: date | datetime | str, end: date | datetime | str, freq: str
) -> list[str]:
    """Every period label from the one containing ``start`` to the one containing ``end``."""
    check_freq(freq)
    first, last = (
        period_of(parse_moment(start, freq), freq),
        period_of(parse_moment(end, freq), freq),
    )
    if period_start(first, freq) > period_start(last, freq):
        raise InvalidInput(f"period range is reversed: {start} is after {end}")
    labels = [first]
    while labels[-1] != last:
        labels.append(next_period(labels[-1], freq))
    return labels


def hive_values(label: str, freq: str) -> dict[str, str]:
    """``{"year": "2025", "month": "03"}`` for ``2025-03`` at ``M``."""
    start = period_start(label, freq)
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


def hive_path(label: str, freq: str, root: str | None = None) -> str:
    """``year=2025/month=03`` (under ``root`` when given)."""
    rel = "/".join(f"{k}={v}" for k, v in hive_values(label, freq).items())
    return f"{root.rstrip('/')}/{rel}" if root else rel


def label_of_hive(values: dict[str, str], freq: str) -> str:
    """The inverse of ``hive_values``."""
    try:
        y = int(values["year"])
        match check_freq(freq):
            case "W":
                return f"{y:04d}-W{int(values['week']):02d}"
            case "Q":
                return f"{y:04d}-Q{int(values['quarter'])}"
            case "Y":
                return f"{y:04d}"
        parts = [int(values[k]) for k in HIVE_KEYS[freq]]
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"hive values {values} do not name a {freq} period: {exc}") from None
    return period_of(datetime(*(parts + [1] * (3 - len(parts))), tzinfo=UTC), freq)  # type: ignore[misc]


def period_expr(column: str, freq: str) -> pl.Expr:
    """A polars expression giving each row's period label from a date/datetime column."""
    col = pl.col(column)
    match check_freq(freq):
        case "H":
            return col.dt.strftime("%Y-%m-%dT%H")
        case "D":
            return col.dt.strftime("%Y-%m-%d")
        case "W":
            return col.dt.strftime("%G-W%V")
        case "M":
            return col.dt.strftime("%Y-%m")
        case "Q":
            return pl.format("{}-Q{}", col.dt.year(), col.dt.quarter())
        case _:
            return col.dt.strftime("%Y")


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


@dataclass(frozen=True)
class Coverage:
    expected: list[str]
    present: list[str]
    missing: list[str]
    unexpected: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def share(self) -> float:
        return 1.0 if not self.expected else 1 - len(self.missing) / len(self.expected)


def coverage(expected: Iterable[str], present: Iterable[str]) -> Coverage:
    want, have = list(expected), set(present)
    return Coverage(
        expected=want,
        present=[p for p in want if p in have],
        missing=[p for p in want if p not in have],
        unexpected=sorted(have - set(want)),
    )
