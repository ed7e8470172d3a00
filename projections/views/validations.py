"""Validation results: the latest per (target, check), failing ones first, with history."""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

KINDS = ("validation.recorded",)

_SEVERITY = {"error": 0, "warning": 1, "info": 2}


def _recorded(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(
        events,
        ev.ValidationRecorded,
        ["target", "check", "severity", "passed", "failed_count", "run_id", "observed", "expected"],
    )


PARTS = (
    Part(
        "results",
        ("target", "check"),
        {
            "passed": ("last", None),
            "severity": ("last", None),
            "observed": ("last", None),
            "expected": ("last", None),
            "failed_count": ("last", None),
            "run_id": ("last", None),
            "checked_at": ("last", "recorded_at"),
            "checked_by": ("last", "writer_user"),
            "runs": ("count", None),
            "first_checked_at": ("first", "recorded_at"),
        },
        _recorded,
    ),
    Part(
        "failures",
        ("target", "check"),
        {"failures": ("count", None), "last_failed_at": ("last", "recorded_at")},
        lambda events: _recorded(events).filter(~pl.col("passed")),
    ),
)

COLUMNS = [
    "target",
    "check",
    "passed",
    "severity",
    "observed",
    "expected",
    "failed_count",
    "run_id",
    "checked_at",
    "checked_by",
    "runs",
    "failures",
    "last_failed_at",
]


def present(state: State, ctx: Context | None = None) -> pl.DataFrame:
    return (
        state["results"]
        .lazy()
        .join(state["failures"].lazy(), on=["target", "check"], how="left")
        .with_columns(pl.col("failures").fill_null(0))
        .sort(
            pl.col("passed"),
            pl.col("severity").replace_strict(_SEVERITY, default=3),
            "target",
            "check",
        )
        .select(COLUMNS)
        .collect()
    )


def validations(events: pl.LazyFrame) -> pl.DataFrame:
    return present(reduce(PARTS, prepare(events)))


def validation_history(events: pl.LazyFrame, target: str | None = None) -> pl.DataFrame:
    frame = _recorded(prepare(events))
    if target is not None:
        frame = frame.filter(pl.col("target") == target)
    return frame.select(
        "target",
        "check",
        "passed",
        "severity",
        "observed",
        "expected",
        "failed_count",
        "run_id",
        pl.col("recorded_at").alias("at"),
        pl.col("writer_user").alias("by"),
        "version",
    ).collect()
