"""A suite: many checks, one pass over the data, one JSON report.

All aggregate expressions of all checks go into a single ``select``; polars evaluates them
in parallel over one scan (and shares common sub-expressions). Failing rows are located in
that same pass as row indices; fetching them afterwards is a gather on an in-memory frame
and a second, filtered pass only for a lazy source with failures. ``passes`` in the report
counts the scans actually made.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl
from lakeledger.store import events as ev

from .check import Check, Plan
from .frames import as_polars
from .result import CheckFailed, CheckResult, jsonable

if TYPE_CHECKING:
    from lakeledger.store import Committed, Ledger

ROWS = "__rows__"


class Report(msgspec.Struct, kw_only=True):
    results: list[CheckResult]
    rows: int
    passes: int
    seconds: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def blocking(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking]

    def raise_if_blocking(self, target: str = "data") -> Report:
        if self.blocking:
            lines = "; ".join(r.summary() for r in self.blocking)
            raise CheckFailed(
                f"{target}: {len(self.blocking)} check(s) failed: {lines}", self.blocking
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "blocking": len(self.blocking),
            "rows": self.rows,
            "passes": self.passes,
            "seconds": round(self.seconds, 4),
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return msgspec.json.encode(self.to_dict()).decode()

    def record(self, ledger: Ledger, target: str, run_id: str | None = None) -> Committed:
        """Append every result as a ``validation.recorded`` event, in one commit."""
        return ledger.append([validation_event(r, target, run_id) for r in self.results])


def validation_event(
    result: CheckResult, target: str, run_id: str | None = None
) -> ev.ValidationRecorded:
    return ev.ValidationRecorded(
        target=target, check=result.check, passed=result.passed, **result.event_fields(run_id)
    )


class Suite:
    """Checks to run together. ``sample`` failing rows are kept per failed check."""

    def __init__(self, checks: Iterable[Check], *, sample: int = 5) -> None:
        self.checks = list(checks)
        self.sample = sample

    def __add__(self, other: Suite | Sequence[Check]) -> Suite:
        more = other.checks if isinstance(other, Suite) else list(other)
        return Suite([*self.checks, *more], sample=self.sample)

    def run(self, data: Any) -> Report:
        started = time.perf_counter()
        frame = as_polars(data)
        schema = frame.collect_schema()
        decided: dict[int, CheckResult] = {}
        plans: dict[int, Plan] = {}
        exprs: list[pl.Expr] = [pl.len().alias(ROWS)]
        for i, check in enumerate(self.checks):
            outcome = check.plan(schema)
            if isinstance(outcome, CheckResult):
                decided[i] = outcome
                continue
            plans[i] = outcome
            exprs += [e.alias(f"{i}:{k}") for k, e in outcome.aggregates.items()]
            if outcome.failing is not None:
                mask = outcome.failing.fill_null(False)
                exprs.append(mask.sum().alias(f"{i}:__failed"))
                if self.sample:
                    exprs.append(mask.arg_true().head(self.sample).implode().alias(f"{i}:__at"))
        values = frame.lazy().select(exprs).collect().row(0, named=True)
        passes = 1
        rows = int(values[ROWS])
        results: list[CheckResult] = []
        wanted: dict[int, list[int]] = {}
        for i in range(len(self.checks)):
            if i in decided:
                results.append(decided[i])
                continue
            mine = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith(f"{i}:")}
            failed = mine.pop("__failed", None)
            at = mine.pop("__at", None) or []
            result = plans[i].finish(mine, rows, None if failed is None else int(failed))
            if not result.passed and at:
                wanted[len(results)] = list(at)
            results.append(result)
        if wanted:
            passes += self._attach_samples(frame, results, wanted)
        return Report(
            results=results, rows=rows, passes=passes, seconds=time.perf_counter() - started
        )

    def _attach_samples(
        self,
        frame: pl.DataFrame | pl.LazyFrame,
        results: list[CheckResult],
        wanted: dict[int, list[int]],
    ) -> int:
        """Fetch failing rows by index; returns the number of extra scans it took (0 or 1)."""
        indices = sorted({i for at in wanted.values() for i in at})
        if isinstance(frame, pl.DataFrame):
            picked = frame.with_row_index("__row__")[indices]
            scans = 0
        else:
            picked = (
                frame.with_row_index("__row__").filter(pl.col("__row__").is_in(indices)).collect()
            )
            scans = 1
        by_row = {r.pop("__row__"): jsonable(r) for r in picked.to_dicts()}
        for position, at in wanted.items():
            results[position].sample = [by_row[i] for i in at if i in by_row]
        return scans
