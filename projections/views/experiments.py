"""Experiments: the ones created explicitly and the ones runs named, with run counts.

An experiment exists once ``experiment.created`` or a ``run.started`` names it (MLflow creates
experiments on first use too); ``runs`` counts the runs ever started in it, deleted ones too.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

KINDS = ("experiment.created", "run.started")

PARTS = (
    Part(
        "created",
        ("experiment",),
        {
            "created_at": ("first", "recorded_at"),
            "created_by": ("first", "writer_user"),
            "tags": ("first", None),
        },
        lambda e: rows(e, ev.ExperimentCreated, ["experiment", "tags"]),
    ),
    Part(
        "runs",
        ("experiment",),
        {
            "runs": ("count", None),
            "first_run_at": ("min", "recorded_at"),
            "last_run_at": ("max", "recorded_at"),
        },
        lambda e: rows(e, ev.RunStarted, ["experiment"]).filter(
            pl.col("experiment").is_not_null()
        ),
    ),
)

COLUMNS = ["experiment", "runs", "created_at", "created_by", "last_run_at", "tags"]


def present(state: State, ctx: Context | None = None) -> pl.DataFrame:
    return (
        state["created"]
        .lazy()
        .join(state["runs"].lazy(), on="experiment", how="full", coalesce=True)
        .with_columns(
            pl.col("runs").fill_null(0),
            pl.col("tags").fill_null("{}"),
            pl.coalesce("created_at", "first_run_at").alias("created_at"),
        )
        .select(COLUMNS)
        .sort("experiment")
        .collect()
    )


def experiments(events: pl.LazyFrame) -> pl.DataFrame:
    """The experiments view from events alone."""
    return present(reduce(PARTS, prepare(events)))
