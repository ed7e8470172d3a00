"""Quality checks for a ``Suite``: schema, completeness, uniqueness, range, categories,
freshness and row count. Each is declared up front and evaluated in the suite's single pass.

Empty data passes every row-level check (nothing violates it); ``RowCount`` and
``Freshness`` are the checks that fail on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from lakeledger.ingest.checks.check import Check, Plan, as_list
from lakeledger.ingest.checks.dtypes import DtypeLike, dtype_matches, dtype_name
from lakeledger.ingest.checks.result import CheckResult, Severity
from lakeledger.store.errors import InvalidInput


class Schema(Check):
    """Column names and dtypes. ``strict`` also fails on columns not in ``expected``.

    ``failed_count`` is the number of offending columns (missing, wrong dtype, unexpected).
    """

    name = "schema"

    def __init__(
        self,
        expected: Mapping[str, DtypeLike],
        *,
        strict: bool = False,
        severity: Severity = "error",
    ) -> None:
        super().__init__(severity)
        self.expected = dict(expected)
        self.strict = strict

    def plan(self, schema: pl.Schema) -> CheckResult:
        missing = [c for c in self.expected if c not in schema]
        wrong = {
            c: {"expected": dtype_name(t), "observed": str(schema[c])}
            for c, t in self.expected.items()
            if c in schema and not dtype_matches(schema[c], t)
        }
        extra = [c for c in schema if c not in self.expected] if self.strict else []
        failed = len(missing) + len(wrong) + len(extra)
        return self.result(
            failed == 0,
            failed_count=failed,
            observed={c: str(t) for c, t in schema.items()},
            expected={c: dtype_name(t) for c, t in self.expected.items()},
            details={"missing": missing, "wrong_dtype": wrong, "unexpected": extra},
        )


class Completeness(Check):
    """Null share per column against a threshold (one for all, or per column).

    ``failed_count`` is the number of null cells in the columns over their threshold.
    """

    name = "completeness"

    def __init__(
        self,
        columns: str | Sequence[str] | None = None,
        *,
        max_null_share: float | Mapping[str, float] = 0.0,
        severity: Severity = "error",
    ) -> None:
        super().__init__(severity)
        self.columns = None if columns is None else as_list(columns)
        self.max_null_share = max_null_share

    def threshold(self, column: str) -> float:
        if isinstance(self.max_null_share, Mapping):
            return float(self.max_null_share.get(column, 0.0))
        return float(self.max_null_share)

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        columns = self.columns if self.columns is not None else list(schema)
        if (absent := self.missing(schema, columns)) is not None:
            return absent

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            shares = {c: (values[c] / rows if rows else 0.0) for c in columns}
            over = [c for c in columns if shares[c] > self.threshold(c)]
            return self.result(
                not over,
                failed_count=sum(values[c] for c in over),
                observed={"null_share": shares},
                expected={"max_null_share": {c: self.threshold(c) for c in columns}},
                details={
                    "columns_over_threshold": over,
                    "null_counts": {c: values[c] for c in columns},
                },
            )

        failing = pl.any_horizontal([pl.col(c).is_null() for c in columns]) if columns else None
        return Plan(
            finish, {c: pl.col(c).null_count() for c in columns}, failing, count_failing=False
        )


class Uniqueness(Check):
    """Non-null values of ``column`` that repeat.

    ``failed_count`` is the number of surplus rows (non-null rows minus distinct non-null
    values); the check passes while their share of all rows stays within
    ``max_duplicate_share``. Repeated rows are located only when the check fails.
    """

    def __init__(
        self, column: str, *, max_duplicate_share: float = 0.0, severity: Severity = "error"
    ) -> None:
        super().__init__(severity)
        self.column = column
        self.max_duplicate_share = max_duplicate_share
        self.name = f"uniqueness:{column}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        col = pl.col(self.column)

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            surplus = values["present"] - values["distinct"]
            share = surplus / rows if rows else 0.0
            return self.result(
                share <= self.max_duplicate_share,
                failed_count=surplus,
                observed={"duplicate_share": share, "distinct": values["distinct"]},
                expected={"max_duplicate_share": self.max_duplicate_share},
            )

        return Plan(
            finish,
            # n_unique counts null as a value; it is fast on sorted data, drop_nulls is not
            {
                "distinct": col.n_unique() - (col.null_count() > 0).cast(pl.Int64),
                "present": col.count(),
            },
            col.is_duplicated() & col.is_not_null(),
            count_failing=False,
        )


class Range(Check):
    """Non-null values outside ``[min, max]`` (or the open interval with ``inclusive=False``)."""

    def __init__(
        self,
        column: str,
        min: Any = None,
        max: Any = None,
        *,
        inclusive: bool = True,
        severity: Severity = "error",
    ) -> None:
        super().__init__(severity)
        if min is None and max is None:
            raise InvalidInput(f"range check on {column!r}: give min, max or both")
        self.column, self.min, self.max, self.inclusive = column, min, max, inclusive
        self.name = f"range:{column}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        col = pl.col(self.column)
        outside = pl.lit(False)
        if self.min is not None:
            outside = outside | (col < self.min if self.inclusive else col <= self.min)
        if self.max is not None:
            outside = outside | (col > self.max if self.inclusive else col >= self.max)

        def finish(values: dict[str, Any], rows: int, failed: int | None) -> CheckResult:
            return self.result(
                failed == 0,
                failed_count=failed,
                observed={"min": values["min"], "max": values["max"]},
                expected={"min": self.min, "max": self.max, "inclusive": self.inclusive},
            )

        return Plan(finish, {"min": col.min(), "max": col.max()}, outside)


class Categories(Check):
    """Non-null values of ``column`` not in ``allowed``; lists up to 20 of them."""

    def __init__(
        self, column: str, allowed: Collection[Any], *, severity: Severity = "error"
    ) -> None:
        super().__init__(severity)
        self.column = column
        self.allowed = sorted(set(allowed), key=str)
        self.name = f"categories:{column}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        col = pl.col(self.column)
        if isinstance(schema[self.column], pl.Categorical | pl.Enum):
            col = col.cast(pl.String)
        if len(self.allowed) <= 16:  # a few equality tests beat a hash lookup by ~4x
            bad = ~pl.any_horizontal([col == v for v in self.allowed]) & col.is_not_null()
        else:
            bad = ~col.is_in(self.allowed) & col.is_not_null()

        def finish(values: dict[str, Any], rows: int, failed: int | None) -> CheckResult:
            return self.result(
                failed == 0,
                failed_count=failed,
                observed={"unexpected": []},  # filled in for a failed check
                expected={"allowed": self.allowed},
            )

        unexpected = col.filter(bad).unique().sort().head(20).implode()
        return Plan(finish, failing=bad, on_failure={"unexpected": unexpected})


class Freshness(Check):
    """The newest value of a timestamp/date column is at most ``max_age`` old.

    Naive timestamps are taken as UTC. No rows (or only nulls) means not fresh.
    """

    def __init__(
        self,
        column: str,
        max_age: timedelta,
        *,
        now: datetime | None = None,
        severity: Severity = "error",
    ) -> None:
        super().__init__(severity)
        self.column, self.max_age, self.now = column, max_age, now
        self.name = f"freshness:{column}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        dtype = schema[self.column]
        if not (isinstance(dtype, pl.Datetime) or dtype == pl.Date):
            return self.result(
                False, observed={"dtype": str(dtype)}, expected={"dtype": "Datetime or Date"}
            )

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            newest = values["newest"]
            now = self.now or datetime.now(UTC)
            if newest is None:
                return self.result(
                    False,
                    observed={"newest": None, "age_s": None},
                    expected={"max_age_s": self.max_age.total_seconds()},
                    details={"reason": "no values"},
                )
            if not isinstance(newest, datetime) and isinstance(newest, date):
                newest = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
            if newest.tzinfo is None:
                newest = newest.replace(tzinfo=UTC)
            age = now - newest
            return self.result(
                age <= self.max_age,
                observed={"newest": newest, "age_s": age.total_seconds()},
                expected={"max_age_s": self.max_age.total_seconds()},
            )

        return Plan(finish, {"newest": pl.col(self.column).max()})


class RowCount(Check):
    """The number of rows lies within ``[min, max]``."""

    name = "row_count"

    def __init__(
        self, min: int = 1, max: int | None = None, *, severity: Severity = "error"
    ) -> None:
        super().__init__(severity)
        self.min, self.max = min, max

    def plan(self, schema: pl.Schema) -> Plan:
        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            ok = rows >= self.min and (self.max is None or rows <= self.max)
            return self.result(
                ok, observed={"rows": rows}, expected={"min": self.min, "max": self.max}
            )

        return Plan(finish)
