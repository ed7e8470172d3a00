"""Runs: who ran what, with which params, how it went, and the metrics it logged.

A run without ``run.finished`` is ``running`` unless its writer is gone, then ``lost``:
- its writer process (host and pid from ``run.started``) is known to be dead: the caller passes
  those in ``Context.gone`` (``api.py`` checks pids on this host; other hosts cannot be checked);
- or nothing was recorded for the run for longer than ``LOST_AFTER`` (24 h) before ``now``.
The time rule alone makes a past view reproducible: as of a moment, ``now`` is that moment.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from lakeledger.projections.engine.payload import explode_object, json_objects, rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

KINDS = ("run.started", "run.param_logged", "run.metric_logged", "run.tag_set", "run.finished")

LOST_AFTER = timedelta(hours=24)

def _started(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(
        events, ev.RunStarted, ["run_id", "experiment", "name", "job", "params", "tags"]
    )


def _keyed(events: pl.LazyFrame, cls: type[ev.ParamLogged | ev.TagSet], obj: str) -> pl.LazyFrame:
    """(run_id, key, value, pos) from ``run.started``'s ``obj`` and the ``cls`` events after it."""
    initial = explode_object(rows(events, ev.RunStarted, ["run_id", obj]), obj)
    logged = rows(events, cls, ["run_id", "key", "value"])
    cols = ["run_id", "key", "value", "pos", "recorded_at"]
    return pl.concat([initial.select(cols), logged.select(cols)]).sort("pos")


def _metrics(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.MetricLogged, ["run_id", "key", "value", "step"])


def _activity(events: pl.LazyFrame) -> pl.LazyFrame:
    return events.filter(pl.col("kind").is_in(KINDS)).select(
        pl.col("stream").str.slice(4).alias("run_id"), "recorded_at"
    )


PARTS = (
    Part(
        "started",
        ("run_id",),
        {
            "experiment": ("first", None),
            "name": ("first", None),
            "job": ("first", None),
            "started_at": ("first", "occurred_at"),
            "started_by": ("first", "writer_user"),
            "writer_host": ("first", None),
            "writer_pid": ("first", None),
        },
        _started,
    ),
    Part(
        "finished",
        ("run_id",),
        {
            "status": ("last", None),
            "error": ("last", None),
            "finished_at": ("last", "occurred_at"),
        },
        lambda e: rows(e, ev.RunFinished, ["run_id", "status", "error"]),
    ),
    Part(
        "params",
        ("run_id", "key"),
        {"value": ("last", None)},
        lambda e: _keyed(e, ev.ParamLogged, "params"),
    ),
    Part(
        "tags",
        ("run_id", "key"),
        {"value": ("last", None)},
        lambda e: _keyed(e, ev.TagSet, "tags"),
    ),
    Part(
        "metrics",
        ("run_id", "key"),
        {
            "last": ("last", "value"),
            "min": ("min", "value"),
            "max": ("max", "value"),
            "count": ("count", None),
            "last_step": ("last", "step"),
            "max_step": ("max", "step"),
        },
        _metrics,
    ),
    Part("activity", ("run_id",), {"last_event_at": ("max", "recorded_at")}, _activity),
)

COLUMNS = [
    "run_id",
    "experiment",
    "job",
    "name",
    "status",
    "status_reason",
    "started_at",
    "finished_at",
    "duration_s",
    "params",
    "metrics",
    "metric_stats",
    "tags",
    "error",
    "started_by",
    "writer_host",
    "writer_pid",
    "last_event_at",
]


def present(state: State, ctx: Context) -> pl.DataFrame:
    gone = pl.DataFrame(
        {"writer_host": [h for h, _ in ctx.gone], "writer_pid": [p for _, p in ctx.gone]},
        schema={"writer_host": pl.String, "writer_pid": pl.Int64},
    ).with_columns(_gone=pl.lit(True))
    now = pl.lit(ctx.now).cast(pl.Datetime("us", "UTC"))
    silent = now - pl.col("last_event_at") > pl.lit(LOST_AFTER)
    hours = int(LOST_AFTER.total_seconds() // 3600)
    metrics = state["metrics"].lazy().select("run_id", "key", pl.col("last").alias("value"))
    stats = (
        state["metrics"]
        .lazy()
        .select(
            "run_id", "key", pl.struct("last", "min", "max", "count", "last_step").alias("value")
        )
    )
    return (
        state["started"]
        .lazy()
        .join(state["finished"].lazy(), on="run_id", how="left")
        .join(state["activity"].lazy(), on="run_id", how="left")
        .join(gone.lazy(), on=["writer_host", "writer_pid"], how="left")
        .join(json_objects(state["params"].lazy(), "run_id", "params"), on="run_id", how="left")
        .join(json_objects(state["tags"].lazy(), "run_id", "tags"), on="run_id", how="left")
        .join(json_objects(metrics, "run_id", "metrics"), on="run_id", how="left")
        .join(json_objects(stats, "run_id", "metric_stats"), on="run_id", how="left")
        .with_columns(
            status=pl.when(pl.col("status").is_not_null())
            .then("status")
            .when(pl.col("_gone").fill_null(False) | silent)
            .then(pl.lit("lost"))
            .otherwise(pl.lit("running")),
            status_reason=pl.when(pl.col("status").is_not_null())
            .then(pl.lit("finished"))
            .when(pl.col("_gone").fill_null(False))
            .then(pl.format("writer process {}:{} is gone", "writer_host", "writer_pid"))
            .when(silent)
            .then(pl.lit(f"no event for over {hours} h"))
            .otherwise(pl.lit("in progress")),
            duration_s=(pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 1e6,
            params=pl.col("params").fill_null("{}"),
            tags=pl.col("tags").fill_null("{}"),
            metrics=pl.col("metrics").fill_null("{}"),
            metric_stats=pl.col("metric_stats").fill_null("{}"),
        )
        .select(COLUMNS)
        .sort("started_at", "run_id")
        .collect()
    )


def run_metrics(state: State) -> pl.DataFrame:
    """Metric summaries per (run, key): last, min, max, count, last step."""
    return state["metrics"].sort("run_id", "key")


def run_params(state: State) -> pl.DataFrame:
    return state["params"].select("run_id", "key", "value").sort("run_id", "key")


def runs(events: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
    """The runs view from events alone, as seen at ``ctx.now``."""
    return present(reduce(PARTS, prepare(events)), ctx)
