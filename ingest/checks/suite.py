"""A suite: many checks, one pass over the data, one JSON report.

All aggregate expressions of all checks go into a single ``select``; polars evaluates them
in parallel over one scan (and shares common sub-expressions). Only when a check failed is
there a second pass, for everything worth computing about failures alone: a few failing
rows per check and details such as the unexpected categories. A DataFrame costs one pass
when clean, two with problems; a lazy source with problems one more, a fetch of the sample
rows by index. ``passes`` in the report counts the queries actually run on the data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import polars as pl
from lakeledger.ingest.checks.frames import as_polars
from lakeledger.ingest.checks.result import CheckFailed, CheckResult, jsonable
from lakeledger.store import events as ev

if TYPE_CHECKING:
    from lakeledger.ingest.checks.check import Check, Plan
    from lakeledger.store import Committed, Ledger

ROWS = "__rows__"


class Report(msgspec.Struct, kw_only=True):
    results: list[CheckResult]
    rows: int
    passes: int
    seconds: float
    first_pass_seconds: float = 0.0

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


Engine = Literal["auto", "in-memory", "streaming"]


def aggregate(
    frame: pl.DataFrame | pl.LazyFrame, exprs: list[pl.Expr], engine: Engine | None
) -> pl.DataFrame:
    """One pass: the aggregates as a one-row frame.

    Measured on 10M rows x 20 columns, 2 cores (scripts/bench/checks.py): a DataFrame is
    fastest on polars' in-memory engine (~5x the default), a file scan on the streaming
    engine (~2.5x the in-memory one, and it also bounds memory). ``engine`` overrides.
    """
    chosen = engine or ("in-memory" if isinstance(frame, pl.DataFrame) else "streaming")
    return frame.lazy().select(exprs).collect(engine=chosen)


def first_row(frame: pl.DataFrame) -> dict[str, Any]:
    """The aggregate row; list cells stay polars Series (a sorted column can be 10M long)."""
    return {name: frame.get_column(name)[0] for name in frame.columns}


class Suite:
    """Checks to run together. ``sample`` failing rows are kept per failed check."""

    def __init__(
        self, checks: Iterable[Check], *, sample: int = 5, engine: Engine | None = None
    ) -> None:
        self.checks = list(checks)
        self.sample = sample
        self.engine = engine

    def __add__(self, other: Suite | Sequence[Check]) -> Suite:
        more = other.checks if isinstance(other, Suite) else list(other)
        return Suite([*self.checks, *more], sample=self.sample, engine=self.engine)

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
            if outcome.failing is not None and outcome.count_failing:
                exprs.append(outcome.failing.fill_null(False).sum().alias(f"{i}:__failed"))
        values = first_row(aggregate(frame, exprs, self.engine))
        first_pass = time.perf_counter() - started
        rows = int(values[ROWS])
        results: list[CheckResult] = []
        for i in range(len(self.checks)):
            if i in decided:
                results.append(decided[i])
                continue
            mine = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith(f"{i}:")}
            failed = mine.pop("__failed", None)
            results.append(plans[i].finish(mine, rows, None if failed is None else int(failed)))
        passes = 1 + self._explain_failures(frame, plans, results)
        return Report(
            results=results,
            rows=rows,
            passes=passes,
            first_pass_seconds=first_pass,
            seconds=time.perf_counter() - started,
        )

    def _explain_failures(
        self, frame: pl.DataFrame | pl.LazyFrame, plans: dict[int, Plan], results: list[CheckResult]
    ) -> int:
        """Only if checks failed: their ``on_failure`` values and a few failing rows each.

        In memory this is one more pass (whole rows gathered by index in the same ``select``).
        A lazy source gets a pass over just the columns the failing checks read, then a fetch
        of the sample rows by row index: reading every column of a large file again to keep
        the count at two was measured 3-10x slower. Returns the number of passes made.
        """
        lazy = isinstance(frame, pl.LazyFrame)
        exprs: list[pl.Expr] = []
        for i, plan in plans.items():
            if results[i].passed:
                continue
            exprs += [e.alias(f"{i}:{k}") for k, e in plan.on_failure.items()]
            if plan.failing is not None and self.sample:
                at = plan.failing.fill_null(False).arg_true().head(self.sample)
                if lazy:
                    exprs.append(at.implode().alias(f"{i}:__at"))
                else:
                    exprs.append(pl.struct(pl.all()).gather(at).implode().alias(f"{i}:__sample"))
        if not exprs:
            return 0
        values = first_row(aggregate(frame, exprs, self.engine))
        wanted: dict[int, list[int]] = {}
        for key, value in values.items():
            i, name = key.split(":", 1)
            result = results[int(i)]
            if name == "__sample":
                result.sample = [jsonable(row) for row in value.to_list()]
            elif name == "__at":
                wanted[int(i)] = value.to_list()
            elif isinstance(result.observed, dict):
                result.observed[name] = jsonable(value)
            else:
                result.details[name] = jsonable(value)
        indices = sorted({n for at in wanted.values() for n in at})
        if not indices:
            return 1
        rows = (
            frame.lazy()
            .with_row_index("__row__")
            .filter(pl.col("__row__").is_in(indices))
            .collect(engine=self.engine or "streaming")
        )
        by_row = {r.pop("__row__"): jsonable(r) for r in rows.to_dicts()}
        for i, at in wanted.items():
            results[i].sample = [by_row[n] for n in at if n in by_row]
        return 2
