"""Time-partitioned stage outputs: the partitioning, and the coverage events it produces.

After a partitioned stage writes, the ledger learns the dataset's shape
(``dataset.declared``: freq, span, hive keys), every period written
(``partition.observed`` with rows and uri, in one commit) and the gaps against the expected
periods (a ``coverage:<freq>`` validation of severity warning).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import polars as pl
from lakeledger.ingest.stages.io import Written
from lakeledger.store import events as ev
from lakeledger.store.partitions import HIVE_KEYS, hive_path
from lakeledger.store.periods import expected_periods, parse_moment, period_of, start_of
from lakeledger.store.schema import DatasetSchema

if TYPE_CHECKING:
    from lakeledger.store import Ledger


@dataclass(frozen=True)
class Partitioning:
    """Write one hive partition per ``freq`` period of ``column``; coverage spans start..end
    (default: the data's first to last period)."""

    column: str
    freq: str
    start: date | datetime | str | None = None
    end: date | datetime | str | None = None
    due_after: str | None = None  # grace after a period's end before coverage expects it


def observe(
    ledger: Ledger,
    name: str,
    part: Partitioning,
    written: Written,
    output: pl.DataFrame,
    run_id: str,
) -> list[str]:
    """Declare the dataset, observe every written period, record coverage; return the gaps."""
    labels = sorted(written.partitions)
    if not labels:
        return []
    col = output.get_column(part.column)
    start, end = part.start or col.min(), part.end or col.max()
    schema = DatasetSchema.from_polars(output)
    ledger.declare_dataset(
        name,
        freq=part.freq,
        start=_day(start, part.freq),  # type: ignore[arg-type]
        end=_day(end, part.freq),
        partition_key=HIVE_KEYS[part.freq],
        schema=schema,
        due_after=part.due_after,
    )  # type: ignore[arg-type]
    ledger.append(
        [
            ev.PartitionObserved(
                dataset=name,
                partition=label,
                rows=rows,
                uri=f"{written.uri}/{hive_path(label, part.freq)}",
                schema_hash=schema.hash,
            )
            for label, rows in written.partitions.items()
        ]
    )
    cov = coverage(expected_periods(start, end, part.freq), labels)  # type: ignore[arg-type]
    ledger.record_validation(
        name,
        f"coverage:{part.freq}",
        cov.complete,
        severity="warning",
        run_id=run_id,
        observed={"present": len(cov.present), "share": cov.share},
        expected={"periods": len(cov.expected)},
        failed_count=len(cov.missing),
        details={"missing": cov.missing[:100], "unexpected": cov.unexpected[:100]},
    )
    return cov.missing


def _day(value: date | datetime | str, freq: str) -> str:
    """A date for ``dataset.declared``: the first day of the period containing ``value``."""
    return start_of(period_of(parse_moment(value, freq), freq), freq).date().isoformat()


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
