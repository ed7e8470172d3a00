"""The contract every check follows, so a suite can fuse many of them into one pass.

A check does not read data itself. Given the frame's schema it either decides at once
(a missing column, a wrong dtype) or returns a ``Plan``: named aggregate expressions, an
optional predicate that marks failing rows, and a function that turns the aggregated values
into a ``CheckResult``. The suite puts the expressions of every check into ONE polars
``select``, so ten checks cost one scan, not ten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
from lakeledger.ingest.checks.result import SEVERITIES, CheckResult, Severity
from lakeledger.store.errors import InvalidInput

if TYPE_CHECKING:
    from lakeledger.store import Ledger

Finish = Callable[[dict[str, Any], int, int | None], CheckResult]


@dataclass
class Plan:
    """What a check needs from the data; ``finish(values, rows, failed_count)`` decides.

    ``failing`` marks failing rows: its sum is the failed count (unless ``count_failing`` is
    False because ``finish`` derives the count more cheaply from ``aggregates``), and it
    locates sample rows. ``on_failure`` are aggregates worth computing only for a failed
    check (the unexpected categories...); they are merged into ``observed``.
    """

    finish: Finish
    aggregates: dict[str, pl.Expr] = field(default_factory=dict)
    failing: pl.Expr | None = None
    count_failing: bool = True
    on_failure: dict[str, pl.Expr] = field(default_factory=dict)


class Check:
    """Base of all checks. Subclasses set ``name`` and implement ``plan``."""

    name: str = "check"

    def __init__(self, severity: Severity = "error") -> None:
        if severity not in SEVERITIES:
            raise InvalidInput(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        self.severity: Severity = severity

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        raise NotImplementedError

    def result(self, passed: bool, **fields: Any) -> CheckResult:
        return CheckResult(check=self.name, passed=passed, severity=self.severity, **fields)

    def missing(self, schema: pl.Schema, columns: Sequence[str]) -> CheckResult | None:
        """A failed result when the data lacks columns this check reads, else None."""
        absent = [c for c in columns if c not in schema]
        if not absent:
            return None
        return self.result(
            False,
            observed={"missing_columns": absent},
            expected=list(columns),
            failed_count=None,
            details={"reason": "column not found"},
        )

    def run(self, data: Any, *, sample: int = 5) -> CheckResult:
        """Run this check alone (one pass over ``data``)."""
        from lakeledger.ingest.checks.suite import Suite

        return Suite([self], sample=sample).run(data).results[0]

    def record(
        self, data: Any, ledger: Ledger, target: str, run_id: str | None = None
    ) -> CheckResult:
        result = self.run(data)
        result.record(ledger, target, run_id)
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.severity})>"


def as_list(columns: str | Sequence[str]) -> list[str]:
    return [columns] if isinstance(columns, str) else list(columns)
