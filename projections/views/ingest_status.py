"""Per-source ingest status, a pure view over the event log (no storage access).

From ``ingest.checkpoint`` (cursor, batch) and the ``ingest/<source>`` runs (``run.started``,
``run.finished``, ``run.metric_logged``): the last cursor, the last run and its outcome, rows
written and quarantined by it and in total, and how many runs failed. A run killed before it
logged its metrics still wrote rows, so the caller may pass ``held``: rows per (source, run_id)
counted in bronze and quarantine (``written``, ``quarantined``); the counts then come from it.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.store import events as ev

COLUMNS = [
    "source",
    "batch",
    "cursor",
    "last_run",
    "started_at",
    "status",
    "written",
    "quarantined",
    "total_written",
    "total_quarantined",
    "runs",
    "failed_runs",
    "last_error",
]
# what a person scanning `lakeledger ingest status` needs; --json gives every column
SUMMARY = [c for c in COLUMNS if c not in ("total_quarantined", "runs")]


def ingest_status(events: pl.LazyFrame, held: pl.DataFrame | None = None) -> pl.DataFrame:
    """``events``: log rows (``kind``, ``version``, ``seq``, ``occurred_at``, ``payload``);
    ``held``: optional counts per ``source``, ``run_id`` (``written``, ``quarantined``)."""
    ordered = events.sort("version", "seq")
    checkpoints = (
        rows(ordered, ev.IngestCheckpoint, ["source", "batch", "cursor"])
        .group_by("source")
        .agg(pl.col("batch").last(), pl.col("cursor").last())
    )
    started = (
        rows(ordered, ev.RunStarted, ["run_id", "job", "params"])
        .filter(pl.col("job").str.starts_with("ingest/"))
        .select(
            "run_id",
            pl.col("params").str.json_path_match("$.source").alias("source"),
            pl.col("occurred_at").alias("started_at"),
            "version",
            "seq",
        )
    )
    finished = (
        rows(ordered, ev.RunFinished, ["run_id", "status", "error"])
        .select("run_id", "status", "error")
        .unique("run_id", keep="last")
    )
    metric = rows(ordered, ev.MetricLogged, ["run_id", "key", "value"]).select(
        "run_id", "key", "value"
    )

    def total(key: str) -> pl.LazyFrame:
        return (
            metric.filter(pl.col("key") == key)
            .group_by("run_id")
            .agg(pl.col("value").last().cast(pl.Int64).alias(key))
        )

    if held is not None:
        counts = held.lazy().select(
            "source",
            "run_id",
            pl.col("written").cast(pl.Int64).alias("records_written"),
            pl.col("quarantined").cast(pl.Int64).alias("records_quarantined"),
        )
        counted = started.join(counts, on=["source", "run_id"], how="left").with_columns(
            pl.col("records_written", "records_quarantined").fill_null(0)
        )
    else:
        counted = started.join(total("records_written"), on="run_id", how="left").join(
            total("records_quarantined"), on="run_id", how="left"
        )
    runs = (
        counted.join(finished, on="run_id", how="left")
        .with_columns(pl.col("status").fill_null("running"))
        .sort("version", "seq")  # log order: joins above do not keep any
        .group_by("source")
        .agg(
            pl.col("run_id").last().alias("last_run"),
            pl.col("started_at").last(),
            pl.col("status").last(),
            pl.col("records_written").last().alias("written"),
            pl.col("records_quarantined").last().alias("quarantined"),
            pl.col("records_written").sum().alias("total_written"),
            pl.col("records_quarantined").sum().alias("total_quarantined"),
            pl.len().cast(pl.Int64).alias("runs"),
            (pl.col("status") == "failed").sum().cast(pl.Int64).alias("failed_runs"),
            pl.col("error").drop_nulls().last().alias("last_error"),
        )
    )
    return (
        runs.join(checkpoints, on="source", how="full", coalesce=True)
        .select(COLUMNS)
        .sort("source")
        .collect()
    )
