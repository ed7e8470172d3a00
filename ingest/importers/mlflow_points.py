"""Metric points in bulk: the bulk of any MLflow store, appended as columns, never one object each.

Points come from MLflow's ``metrics`` table (sqlite read directly, ``mlflow_sqlite.py``; other
databases through SQLAlchemy, ``table_points``), a file store's files or the client, as one
frame of ``POINTS`` columns; ``append_points`` derives their ids (``mlflow_ids.metric_ids``),
drops those already imported and commits them in chunks through a small pipeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import polars as pl
from lakeledger.ingest.importers.mlflow_ids import metric_ids
from lakeledger.ingest.importers.mlflow_sqlite import POINTS
from lakeledger.store import Ledger, bulk

Progress = Callable[[str, int], None]  # (what, how many more)
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
POINTS_CHUNK = 98_304  # metric points per commit (6 row groups): small enough for the pipeline to overlap


class Summary(Protocol):
    read: Counter[str]
    added: int
    skipped: int


def append_points(
    ledger: Ledger, points: pl.DataFrame, *, distinct: bool, summary: Summary, progress: Progress
) -> None:
    """Every point (``POINTS`` columns) as one ``run.metric_logged`` event, appended in bulk
    (``store.bulk``: columns, not an object per point); points already in the ledger (an
    earlier import) are left out. ``distinct``: the source's key makes every point distinct
    (MLflow's metrics table), else exact repeats (the file store keeps them) are numbered."""
    if not points.height:
        return
    # each (run, key)'s points in (step, timestamp) order; exact repeats (the file store
    # keeps them) stay distinct events through their occurrence number
    points = points.sort("run_id", "key", "step", "timestamp", maintain_order=True)
    if distinct:
        points = points.with_columns(occurrence=pl.lit(1, pl.Int64))
    else:
        same = ["run_id", "key", "step", "timestamp", "value"]
        points = points.with_columns(occurrence=pl.int_range(1, pl.len() + 1).over(same))
    summary.read["run.metric_logged"] += points.height
    known = _known_ids(ledger, points)
    # a pipeline of chunks: ids hashed here (Python, holds the GIL) while a thread lays out
    # the previous chunk's payloads (polars) and another commits the one before (Parquet
    # encoding): both release the GIL, so on two cores the three overlap; single-threaded
    # pools keep the commits in order, and at most two chunks wait
    with ThreadPoolExecutor(max_workers=1) as layout, ThreadPoolExecutor(max_workers=1) as committer:
        waiting: list[Future[Any]] = []
        known_ids = None if known is None else known.implode()
        for at in range(0, points.height, POINTS_CHUNK):
            chunk = points.slice(at, POINTS_CHUNK)
            chunk = chunk.with_columns(
                event_id=metric_ids(chunk),
                occurred_at=pl.from_epoch("timestamp", "ms").dt.replace_time_zone("UTC"),
            )
            if known_ids is not None:
                before = chunk.height
                chunk = chunk.filter(~pl.col("event_id").is_in(known_ids))
                summary.skipped += before - chunk.height
            if not chunk.height:
                continue
            rows = layout.submit(bulk.metric_rows, chunk)
            waiting.append(committer.submit(lambda rows=rows: ledger.append_rows(rows.result())))
            while len(waiting) > 2:
                waiting.pop(0).result()
            summary.added += chunk.height
            progress("metric points", chunk.height)
        for done in waiting:
            done.result()


def _known_ids(ledger: Ledger, points: pl.DataFrame) -> pl.Series | None:
    """Ids of these runs' metric points already in the ledger (None: the log is empty)."""
    if ledger.version == 0:
        return None
    streams = ("run/" + points["run_id"].unique()).implode()
    return (
        ledger.log.scan(dedupe=False)
        .filter((pl.col("kind") == bulk.KIND) & pl.col("stream").is_in(streams))
        .select("event_id")
        .collect()["event_id"]
    )


def table_points(tracking_uri: str) -> pl.DataFrame | None:
    """Every metric point of a database store other than sqlite (postgresql, mysql, mssql),
    read from MLflow's ``metrics`` table in one query through SQLAlchemy (which MLflow brings);
    ``is_nan`` rows become NaN as MLflow's client makes them. ``None`` for other stores or a
    table this code does not recognise (the client path then reads the histories)."""
    if scheme(tracking_uri) not in DATABASES:
        return None
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(tracking_uri)
        with engine.connect() as conn:
            rows = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics"
                )
            ]
        engine.dispose()
    except Exception:  # noqa: BLE001 - an unexpected schema: the client path still works
        return None
    frame = pl.DataFrame(rows, schema={**POINTS, "is_nan": pl.Boolean}, orient="row")
    return frame.with_columns(
        value=pl.when(pl.col("is_nan")).then(float("nan")).otherwise(pl.col("value")),
        step=pl.col("step").fill_null(0),
    ).select(list(POINTS))


def scheme(tracking_uri: str) -> str:
    return tracking_uri.split(":", 1)[0].split("+", 1)[0]
