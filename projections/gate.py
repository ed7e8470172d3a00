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
    # worth a look but not a failure: dangling run ids, storage lakeledger could not check
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def rows(self) -> list[dict[str, str]]:
        return [
            {"view": p.view, "subject": p.subject, "problem": p.problem, "detail": p.detail}
            for p in self.problems
        ]

    def warning_rows(self) -> list[dict[str, str]]:
        return [
            {"view": p.view, "subject": p.subject, "warning": p.problem, "detail": p.detail}
            for p in self.warnings
        ]


def warnings(
    runs: pl.DataFrame, metrics: pl.DataFrame, models: pl.DataFrame, unchecked: dict[str, str]
) -> list[Problem]:
    """Metrics of runs never started, model versions naming no run, uris not checkable."""
    known = runs.select("run_id")
    found = [
        Problem("runs", r["run_id"], "unknown run", f"{r['metrics']} metric(s) logged for a run "
                "that was never started (a typo in the run id?)")
        for r in metrics.join(known, on="run_id", how="anti")
        .group_by("run_id").agg(pl.len().alias("metrics")).sort("run_id").iter_rows(named=True)
    ]
    found += [
        Problem("models", f"{r['model']}@{r['version']}", "unknown run",
                f"run_id {r['run_id']} names no run in this ledger")
        for r in models.filter(pl.col("run_id").is_not_null())
        .join(known, on="run_id", how="anti").iter_rows(named=True)
    ]
    found += [
        Problem("staleness", uri, "not checked", reason) for uri, reason in sorted(unchecked.items())
    ]
    return found


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
