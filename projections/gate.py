"""The integrity gate as a pure function of three views: what is wrong, in a short list."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Problem:
    view: str  # the view that shows it
    subject: str  # artifact name, dataset, target:check
    problem: str  # stale, missing, orphaned, uncovered, failing
    detail: str


@dataclass(frozen=True)
class Report:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def rows(self) -> list[dict[str, str]]:
        return [
            {"view": p.view, "subject": p.subject, "problem": p.problem, "detail": p.detail}
            for p in self.problems
        ]


def problems(
    staleness: pl.DataFrame, coverage: pl.DataFrame, validations: pl.DataFrame
) -> list[Problem]:
    found = [
        Problem("staleness", r["name"], r["status"], r["reason"])
        for r in staleness.filter(pl.col("status") != "fresh").iter_rows(named=True)
    ]
    found += [
        Problem(
            "coverage",
            r["dataset"],
            "uncovered",
            f"{r['missing']} of {r['expected']} {r['freq']} periods missing, "
            f"first gap {r['first_gap']}",
        )
        for r in coverage.filter(pl.col("missing") > 0).iter_rows(named=True)
    ]
    found += [
        Problem(
            "validations",
            f"{r['target']}:{r['check']}",
            "failing",
            f"latest result failed at {r['checked_at']:%Y-%m-%d %H:%M:%S}"
            + (f" ({r['failed_count']} failed)" if r["failed_count"] is not None else ""),
        )
        for r in validations.filter(~pl.col("passed") & (pl.col("severity") == "error")).iter_rows(
            named=True
        )
    ]
    return found
