"""How a landing directory is laid out: which paths are data, and which partition they hold.

Two layouts are understood:
- ``hive``: ``key=value`` directories (``date=2025-03-01/``, ``year=2025/month=03/``);
- ``date-name``: a date in the file or directory name (``sales_2025-03-01.parquet``).
``auto`` uses hive components when a path has any, else a date in the name.

Partition values are normalised so that both layouts agree: a single key gives its value
(``date=2025-03-01`` -> ``2025-03-01``), calendar keys give an ISO prefix
(``year=2025/month=3`` -> ``2025-03``), anything else keeps ``k=v/k=v``.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Literal
from urllib.parse import unquote

Layout = Literal["auto", "hive", "date-name"]
LAYOUTS: tuple[Layout, ...] = ("auto", "hive", "date-name")

DATA_SUFFIXES = (".parquet", ".parq", ".pq", ".csv")
DELTA_LOG = "_delta_log"

# Names writers use while a file is not finished yet (browsers, rsync, Spark, Hadoop, editors).
_TEMP_SUFFIXES = (
    "~", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".inprogress",
    ".filepart", ".swp", ".swx", ".lock", ".copying", ".uploading",
)
_CALENDAR = ("year", "month", "day", "hour")
_ISO_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT_DAY = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_ISO_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")


def is_hidden_or_temp(name: str) -> bool:
    """True for names no finished data file has: hidden, ``_``-prefixed or temporary."""
    lower = name.lower()
    return name.startswith((".", "_")) or lower.endswith(_TEMP_SUFFIXES)


def is_data_file(name: str) -> bool:
    return not is_hidden_or_temp(name) and name.lower().endswith(DATA_SUFFIXES)


def ignored_dir(name: str) -> bool:
    """Directories whose content is never data on its own (``_temporary``, ``.staging``...)."""
    return name.startswith((".", "_"))


def hive_pairs(parts: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for part in parts:
        key, sep, value = part.partition("=")
        if sep and key and value:
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _hive_value(pairs: list[tuple[str, str]]) -> str:
    keys = [k.lower() for k, _ in pairs]
    if keys == list(_CALENDAR[: len(keys)]) and all(v.isdigit() for _, v in pairs):
        nums = [int(v) for _, v in pairs]
        text = f"{nums[0]:04d}"
        if len(nums) > 1:
            text += f"-{nums[1]:02d}"
        if len(nums) > 2:
            text += f"-{nums[2]:02d}"
        if len(nums) > 3:
            text += f"T{nums[3]:02d}"
        return text
    if len(pairs) == 1:
        return pairs[0][1]
    return "/".join(f"{k}={v}" for k, v in pairs)


def date_in_name(name: str) -> str | None:
    """The first real calendar date in ``name`` (``2025-03-01``, ``20250301``, or ``2025-03``)."""
    for pattern in (_ISO_DAY, _COMPACT_DAY):
        for match in pattern.finditer(name):
            y, m, d = (int(g) for g in match.groups())
            try:
                return date(y, m, d).isoformat()
            except ValueError:
                continue
    for match in _ISO_MONTH.finditer(name):
        y, m = (int(g) for g in match.groups())
        if 1 <= m <= 12:
            return f"{y:04d}-{m:02d}"
    return None


def partition_of(relpath: str, layout: Layout = "auto", *, is_dir: bool = False) -> str | None:
    """The partition value of a data file (or Delta table directory) at ``relpath``.

    ``relpath`` is relative to the watched directory. ``None`` when the layout cannot tell.
    """
    parts = [p for p in relpath.replace(os.sep, "/").split("/") if p]
    dirs = parts if is_dir else parts[:-1]
    if layout in ("hive", "auto"):
        pairs = hive_pairs(dirs)
        if pairs:
            return _hive_value(pairs)
        if layout == "hive":
            return None
    for part in reversed(parts):  # the file's own name first, then its nearest directories
        stem = part.rsplit(".", 1)[0] if "." in part else part
        found = date_in_name(stem)
        if found:
            return found
    return None
