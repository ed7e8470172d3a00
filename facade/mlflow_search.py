"""``search_runs`` for the MLflow drop-in: runs in MLflow's wide shape, filtered with lakeledger's
one filter language (``lakeledger.projections.search``: MLflow's syntax plus OR and parentheses).

It searches the runs view's search index, as ``ledger.search_runs`` does (``projections.api.
runs_index``: refreshed, read back from storage in a fresh process), so a script's search costs
the filter and its hits, not a pass over every event. Deleted runs are left out (MLflow's
``ACTIVE_ONLY``). Values follow MLflow, not lakeledger's views: ``status`` is FINISHED/FAILED/
KILLED/RUNNING, params are their text, and a metric's value is its latest point (highest step,
then latest timestamp): the view's last logged value, except for the keys whose last point was
not at their highest step, which are read back from their events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl
from lakeledger.store import Ledger

if TYPE_CHECKING:
    from lakeledger.projections.search_sources import Aligned

_STATUS_OUT = {"success": "FINISHED", "failed": "FAILED", "aborted": "KILLED"}
ALIASES: dict[str, str] = {}  # attribute names are the columns' own


def search_runs(
    ledger: Ledger,
    experiments: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
) -> pl.DataFrame:
    """The runs that pass the filter, in MLflow's columns: attributes, ``metrics.*``,
    ``params.*``, ``tags.*``; ordered by ``order_by`` then newest first, like MLflow."""
    from lakeledger.projections.api import runs_index
    from lakeledger.projections.search import parse, search
    from lakeledger.projections.views.runs_search import ROW, part_of

    parse(filter_string or "")  # a bad filter is bad input, before reading anything
    index, _ = runs_index(ledger)
    base = index.rows.lazy().with_row_index(ROW).select(
        "run_id",
        pl.col("experiment").alias("experiment_id"),
        pl.col("status").replace_strict(_STATUS_OUT, default="RUNNING", return_dtype=pl.String),
        pl.col("started_at").alias("start_time"),
        pl.col("finished_at").alias("end_time"),
        pl.col("name").alias("run_name"),
        ROW,
    )
    sources = {**index.maps, "metrics": _mlflow_latest(ledger, index.maps["metrics"], index.rows)}
    kept = search(
        base,
        filter_string or None,
        order_by=[*(order_by or []), "start_time DESC", "run_id"],
        limit=max_results,
        aliases=ALIASES,
        sources=sources,
        where=None if experiments is None else pl.col("experiment_id").is_in(list(experiments)),
    )
    keys = kept.select(pl.col(ROW).alias("row"), "run_id")
    wide = kept.drop("run_name", ROW)
    for name, aligned in sources.items():
        mine = part_of(aligned, keys)
        if mine.height:
            pivot = mine.pivot(on="key", index="run_id", values=aligned.value, sort_columns=True)
            wide = wide.join(
                pivot.rename({c: f"{name}.{c}" for c in pivot.columns if c != "run_id"}),
                on="run_id",
                how="left",
                maintain_order="left",
            )
    return wide


def _mlflow_latest(ledger: Ledger, metrics: Aligned, rows: pl.DataFrame) -> Aligned:
    """The metrics map with MLflow's value per key (the point of highest step, then latest
    time; the later logged on a tie): the view's last value, but for keys whose last point
    was not at their highest step (steps logged out of order), read back from their events."""
    from lakeledger.projections.api import read_events
    from lakeledger.projections.engine.payload import rows as payload_rows
    from lakeledger.projections.engine.state import prepare
    from lakeledger.projections.search_sources import Aligned
    from lakeledger.store import events as ev

    frame = metrics.whole()
    odd = frame.filter(pl.col("last_step") != pl.col("max_step"))
    if not odd.height:
        return metrics
    ids = rows["run_id"].gather(odd["row"])
    events = read_events(
        ledger, kinds=["run.metric_logged"], streams=[f"run/{r}" for r in ids.unique().to_list()]
    )
    latest = (
        payload_rows(prepare(events.lazy()), ev.MetricLogged, ["run_id", "key", "value", "step"])
        .with_row_index("_at")
        .sort("step", "occurred_at", "_at")
        .group_by("run_id", "key")
        .agg(pl.col("value").last().alias("_latest"))
        .collect()
    )
    fixed = (
        frame.join(pl.DataFrame({"row": odd["row"], "run_id": ids}), on="row", how="left")
        .join(latest, on=["run_id", "key"], how="left")
        .with_columns(last=pl.coalesce("_latest", "last"))
        .drop("run_id", "_latest")
    )
    return Aligned(fixed, metrics.height, metrics.value)
