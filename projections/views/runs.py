"""Runs: who ran what, with which params, how it went, and the metrics it logged.

A run without ``run.finished`` is ``running`` unless its writer is gone, then ``lost``:
- its writer process (host and pid from ``run.started``) is known to be dead: the caller passes
  those in ``Context.gone`` (``api.py`` checks pids on this host; other hosts cannot be checked);
- or nothing was recorded for the run for longer than ``LOST_AFTER`` (24 h) before ``now``.
The time rule alone makes a past view reproducible: as of a moment, ``now`` is that moment.

Params keep their JSON type (0.05 stays a number, "0.05" a string); metrics are numbers. A run
whose last ``run.deleted`` is not followed by ``run.restored`` leaves the view (the audit keeps
it). A run lists the artifacts registered with its id; ``parent_run_id`` nests runs.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from lakeledger.projections.engine.keyvalues import explode_object, json_objects
from lakeledger.projections.engine.payload import json_string, rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

RUN_KINDS = (
    "run.started",
    "run.param_logged",
    "run.metric_logged",
    "run.tag_set",
    "run.finished",
    "run.deleted",
    "run.restored",
)
KINDS = (*RUN_KINDS, "artifact.registered")

# MLflow's attribute names -> our columns, for search filters (``attributes.start_time > ...``)
ALIASES = {
    "run_name": "name",
    "start_time": "started_at",
    "end_time": "finished_at",
    "experiment_id": "experiment",
    "experiment_name": "experiment",
    "user_id": "started_by",
}

LOST_AFTER = timedelta(hours=24)

def _started(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(
        events,
        ev.RunStarted,
        ["run_id", "experiment", "name", "job", "parent_run_id", "params", "tags"],
    )


def _keyed(
    events: pl.LazyFrame,
    kind: type[ev.ParamLogged | ev.TagSet],
    obj: str,
    *,
    as_json: bool = False,
) -> pl.LazyFrame:
    """(run_id, key, value, pos) from ``run.started``'s ``obj`` and the ``kind`` events after it.

    ``as_json``: values as JSON text with their type (params), else as plain text (tags)."""
    initial = explode_object(rows(events, ev.RunStarted, ["run_id", obj]), obj, as_json=as_json)
    fields = ["run_id", "key", "value"]
    cols = ["run_id", "key", "value", "pos", "recorded_at"]
    if not as_json:
        logged = rows(events, kind, fields)
        return pl.concat([initial.select(cols), logged.select(cols)]).sort("pos", maintain_order=True)
    # params: ``value`` the JSON text (type kept), ``text`` as shown and compared (0.05 -> "0.05")
    logged = rows(events, kind, fields, scalar_json={"value": "json"}).with_columns(
        text=pl.when(pl.col("json").str.starts_with('"')).then("value").otherwise("json"),
        value=pl.col("json"),
    )
    initial = initial.with_columns(
        text=pl.when(pl.col("value").str.starts_with('"'))
        .then(json_string(pl.col("value")))
        .otherwise("value")
    )
    cols.append("text")
    return pl.concat([initial.select(cols), logged.select(cols)]).sort("pos", maintain_order=True)


def _deletions(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, (ev.RunDeleted, ev.RunRestored), ["run_id"])


def _artifacts(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ArtifactRegistered, ["run_id", "name"]).filter(
        pl.col("run_id").is_not_null()
    )


def _metrics(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.MetricLogged, ["run_id", "key", "value", "step"])


def _activity(events: pl.LazyFrame) -> pl.LazyFrame:
    return events.filter(pl.col("kind").is_in(RUN_KINDS)).select(
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
            "parent_run_id": ("first", None),
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
        {"value": ("last", None), "text": ("last", None)},
        lambda e: _keyed(e, ev.ParamLogged, "params", as_json=True),
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
    Part(
        "deletion",
        ("run_id",),
        {"deletion": ("last", "kind"), "deleted_at": ("last", "recorded_at")},
        _deletions,
    ),
    Part("artifacts", ("run_id", "name"), {"first_at": ("first", "recorded_at")}, _artifacts),
)

COLUMNS = [
    "run_id",
    "experiment",
    "job",
    "name",
    "parent_run_id",
    "status",
    "status_reason",
    "started_at",
    "finished_at",
    "duration_s",
    "params",
    "metrics",
    "metric_stats",
    "tags",
    "artifacts",
    "error",
    "started_by",
    "writer_host",
    "writer_pid",
    "last_event_at",
]


MAP_COLUMNS = ("params", "tags", "metrics", "metric_stats")


def lean(state: State, ctx: Context) -> pl.LazyFrame:
    """The view's rows without the JSON columns (params, tags, metrics): cheap, for searching;
    ``search_maps`` gives those values typed, one row per (run, key)."""
    return live(settled(state).lazy(), ctx)


def settled(state: State) -> pl.DataFrame:
    """The lean rows before the time-dependent ``status`` (``live``): a function of the state
    alone, so a search computes it once per state (``SearchIndex``), in view order."""
    deleted = state["deletion"].lazy().filter(pl.col("deletion") == "run.deleted")
    artifacts = (
        state["artifacts"].lazy().group_by("run_id").agg(pl.col("name").sort().alias("artifacts"))
    )
    return (
        state["started"]
        .lazy()
        .join(deleted, on="run_id", how="anti")
        .join(artifacts, on="run_id", how="left")
        .join(state["finished"].lazy(), on="run_id", how="left")
        .join(state["activity"].lazy(), on="run_id", how="left")
        .with_columns(
            duration_s=(pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 1e6,
            artifacts=pl.col("artifacts").fill_null(pl.lit([], pl.List(pl.String))),
        )
        .sort("started_at", "run_id")
        .collect()
    )


def live(rows: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    """``status`` of settled rows as of ``ctx.now`` given the writers known gone (row order
    kept: a search's aligned maps rely on it)."""
    gone = pl.DataFrame(
        {"writer_host": [h for h, _ in ctx.gone], "writer_pid": [p for _, p in ctx.gone]},
        schema={"writer_host": pl.String, "writer_pid": pl.Int64},
    ).with_columns(_gone=pl.lit(True))
    now = pl.lit(ctx.now).cast(pl.Datetime("us", "UTC"))
    silent = now - pl.col("last_event_at") > pl.lit(LOST_AFTER)
    hours = int(LOST_AFTER.total_seconds() // 3600)
    if ctx.gone:
        rows = rows.join(gone.lazy(), on=["writer_host", "writer_pid"], how="left", maintain_order="left")
    else:  # nobody gone (the usual case): no join of every row (a search over 100k runs: ~10 ms)
        rows = rows.with_columns(_gone=pl.lit(None, pl.Boolean))
    return (
        rows.with_columns(
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
        )
        .select([c for c in COLUMNS if c not in MAP_COLUMNS])
    )


def present(state: State, ctx: Context) -> pl.DataFrame:
    return present_parts(lean(state, ctx), state["params"], state["tags"], state["metrics"])


def present_parts(
    lean_rows: pl.LazyFrame, params: pl.DataFrame, tags: pl.DataFrame, metrics: pl.DataFrame
) -> pl.DataFrame:
    """The view's rows from lean rows (``lean``) and the params, tags and metrics parts (or
    their rows for those runs): the JSON columns folded here, the costly part of the view."""
    values = metrics.lazy().select("run_id", "key", pl.col("last").alias("value"))
    stats = metrics.lazy().select(
        "run_id", "key", pl.struct("last", "min", "max", "count", "last_step").alias("value")
    )
    return (
        lean_rows.join(
            json_objects(params.lazy(), "run_id", "params", as_json=True),
            on="run_id",
            how="left",
            maintain_order="left",
        )
        .join(
            json_objects(tags.lazy(), "run_id", "tags"),
            on="run_id",
            how="left",
            maintain_order="left",
        )
        .join(
            json_objects(values, "run_id", "metrics"),
            on="run_id",
            how="left",
            maintain_order="left",
        )
        .join(
            json_objects(stats, "run_id", "metric_stats"),
            on="run_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(
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
    """Params per (run, key); ``value`` is JSON text keeping the logged type."""
    return state["params"].select("run_id", "key", "value").sort("run_id", "key")


def deleted_runs(state: State) -> list[str]:
    """Ids of runs deleted (and not restored since)."""
    return state["deletion"].filter(pl.col("deletion") == "run.deleted")["run_id"].to_list()


def metric_history(events: pl.LazyFrame, run_id: str, key: str | None = None) -> pl.DataFrame:
    """Every point a run logged for ``key`` (all keys when None), in log order."""
    frame = _metrics(prepare(events)).filter(pl.col("run_id") == run_id)
    if key is not None:
        frame = frame.filter(pl.col("key") == key)
    return frame.select(
        "key", "step", "value", "occurred_at", "recorded_at", pl.col("version").alias("version")
    ).collect()


def runs(events: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
    """The runs view from events alone, as seen at ``ctx.now``."""
    return present(reduce(PARTS, prepare(events)), ctx)
