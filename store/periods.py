"""Periods of a dataset frequency (H, D, W, M, Q, Y): one arithmetic and one label format, both
ways (a moment to its label, a label back to its period), for every layer. Producers (stages,
ingestion, the watcher) write partitions with these labels and the coverage view expects them,
so both must agree: they share this module.

Labels: ``H`` 2025-03-05T07, ``D`` 2025-03-05, ``W`` 2025-W10 (ISO week), ``M`` 2025-03,
``Q`` 2025-Q1, ``Y`` 2025. All times are UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args

from .errors import InvalidInput

if TYPE_CHECKING:
    import polars as pl

Freq = Literal["H", "D", "W", "M", "Q", "Y"]
FREQS: tuple[str, ...] = get_args(Freq)


def truncate(moment: datetime, freq: str) -> datetime:
    """The first instant of the period containing ``moment``."""
    m = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if freq == "H":
        return m.replace(minute=0, second=0, microsecond=0)
    day = m.replace(hour=0, minute=0, second=0, microsecond=0)
    if freq == "D":
        return day
    if freq == "W":
        return day - timedelta(days=day.weekday())
    if freq == "M":
        return day.replace(day=1)
    if freq == "Q":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    if freq == "Y":
        return day.replace(day=1, month=1)
    raise ValueError(f"unknown freq {freq!r}; use one of {', '.join(FREQS)}")


def step(start: datetime, freq: str) -> datetime:
    """The start of the period after the one starting at ``start``."""
    if freq == "H":
        return start + timedelta(hours=1)
    if freq == "D":
        return start + timedelta(days=1)
    if freq == "W":
        return start + timedelta(days=7)
    months = {"M": 1, "Q": 3, "Y": 12}[freq]
    total = start.month - 1 + months
    return start.replace(year=start.year + total // 12, month=total % 12 + 1)


def label(moment: datetime, freq: str) -> str:
    """The label of the period containing ``moment``."""
    t = truncate(moment, freq)
    if freq == "H":
        return t.strftime("%Y-%m-%dT%H")
    if freq == "D":
        return t.strftime("%Y-%m-%d")
    if freq == "W":
        iso = t.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if freq == "M":
        return t.strftime("%Y-%m")
    if freq == "Q":
        return f"{t.year:04d}-Q{(t.month - 1) // 3 + 1}"
    return f"{t.year:04d}"


def expected(freq: str, start: datetime, last: datetime) -> list[datetime]:
    """The start of every period from the one containing ``start`` to the one containing ``last``."""
    out: list[datetime] = []
    current, end = truncate(start, freq), truncate(last, freq)
    while current <= end:
        out.append(current)
        current = step(current, freq)
    return out



# -- labels back to periods ---------------------------------------------------------------------
LABEL_PATTERNS = {
    "H": re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$"),
    "D": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "W": re.compile(r"^(\d{4})-W(\d{2})$"),
    "M": re.compile(r"^(\d{4})-(\d{2})$"),
    "Q": re.compile(r"^(\d{4})-Q([1-4])$"),
    "Y": re.compile(r"^(\d{4})$"),
}


def check_freq(freq: str) -> str:
    if freq not in FREQS:
        raise InvalidInput(f"frequency {freq!r} is not one of {', '.join(FREQS)}")
    return freq


def start_of(text: str, freq: str) -> datetime:
    """The first instant (UTC) of the period labelled ``text``."""
    moment = from_groups(check_freq(freq), LABEL_PATTERNS[freq].match(text.strip()))
    if moment is None:
        example = label(datetime(2025, 3, 5, 7, tzinfo=UTC), freq)
        raise InvalidInput(f"{text!r} is not a valid {freq} period label (e.g. {example})")
    return moment


def from_groups(freq: str, match: re.Match[str] | None) -> datetime | None:
    """The period start a label pattern's match names (None for an impossible date)."""
    if match is None:
        return None
    parts = [int(p) for p in match.groups()]
    try:
        if freq == "W":
            return datetime.combine(date.fromisocalendar(parts[0], parts[1], 1), datetime.min.time(), UTC)
        if freq == "Q":
            return datetime(parts[0], 3 * parts[1] - 2, 1, tzinfo=UTC)
        if freq == "H":
            return datetime(parts[0], parts[1], parts[2], parts[3], tzinfo=UTC)
        return datetime(*(parts + [1] * (3 - len(parts))), tzinfo=UTC)  # type: ignore[misc]
    except ValueError:
        return None


def _utc(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def period_of(moment: date | datetime, freq: str) -> str:
    """The label of the period containing ``moment`` (naive times are UTC)."""
    return label(_utc(moment), check_freq(freq))


def next_period(text: str, freq: str) -> str:
    return label(step(start_of(text, freq), freq), freq)


def parse_moment(value: date | datetime | str, freq: str) -> datetime:
    """A UTC datetime from a date, datetime, ISO string or ``freq`` period label."""
    if isinstance(value, date):
        return _utc(value)
    text = value.strip()
    if LABEL_PATTERNS[check_freq(freq)].match(text):
        return start_of(text, freq)
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(f"{value!r} is neither an ISO date/time nor a {freq} period label") from None


def expected_periods(start: date | datetime | str, end: date | datetime | str, freq: str) -> list[str]:
    """Every period label from the one containing ``start`` to the one containing ``end``."""
    first, last = parse_moment(start, freq), parse_moment(end, freq)
    if truncate(first, freq) > truncate(last, freq):
        raise InvalidInput(f"period range is reversed: {start} is after {end}")
    return [label(p, freq) for p in expected(freq, first, last)]


def period_expr(column: str, freq: str) -> pl.Expr:
    """Each row's period label from a date/datetime column (as ``period_of``)."""
    import polars as pl  # here: this module is on the CLI's start-up path, polars is not

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


DURATION_PATTERN = r"^\s*(?:0|(\d+(?:\.\d+)?)\s*([sSmMhHdDwW]|[mM][iI][nN]))\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNIT = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """``90s``, ``30m``, ``6h``, ``2d``, ``1w`` (also ``0``)."""
    match = _DURATION.match(str(text))
    if match is not None and match[1] is None:
        return timedelta(0)
    if match is None:
        raise InvalidInput(f"{field}: {text!r} is not a duration; write e.g. '6h', '30m', '2d' or '0'")
    return timedelta(seconds=float(match[1]) * _UNIT[match[2].lower()])


def last_due(freq: str, now: datetime, grace: timedelta = timedelta(0)) -> datetime:
    """The start of the newest period due at ``now``. A period is due once it has ended and
    ``grace`` has passed since: ``step(p) + grace <= now``, so it is the one before the period
    containing ``now - grace``."""
    return _previous(truncate(now - grace, freq), freq)


def _previous(start: datetime, freq: str) -> datetime:
    if freq == "H":
        return start - timedelta(hours=1)
    if freq == "D":
        return start - timedelta(days=1)
    if freq == "W":
        return start - timedelta(days=7)
    months = {"M": 1, "Q": 3, "Y": 12}[freq]
    total = start.year * 12 + start.month - 1 - months
    return start.replace(year=total // 12, month=total % 12 + 1)
