"""``search_runs`` for the MLflow drop-in: runs in MLflow's wide shape, filtered with lakeledger's
one filter language (``lakeledger.projections.search``: MLflow's syntax plus OR and parentheses).

Values follow MLflow, not lakeledger's views: ``status`` is FINISHED/FAILED/KILLED/RUNNING,
params are strings, and a metric's value is its latest point (highest step, then latest
timestamp). The maps are handed to the filter as typed ``(run_id, key, value)`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from lakeledger.projections.search import Source, search
from lakeledger.store import Ledger

_STATUS_OUT = {"success": "FINISHED", "failed": "FAILED", "aborted": "KILLED"}
_KINDS = ["run.started", "run.param_logged", "run.metric_logged", "run.tag_set", "run.finished"]
ALIASES: dict[str, str] = {}  # attribute names are the columns' own
_TS = pl.Datetime("us", "UTC")
_BASE = {
    "run_id": pl.String,
    "experiment_id": pl.String,
    "status": pl.String,
    "start_time": _TS,
    "end_time": _TS,
    "run_name": pl.String,
}


def _collect(
    ledger: Ledger, experiments: Sequence[str] | None
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Runs (attribute columns) and their metrics/params/tags as (run_id, key, value) rows."""
    events = ledger.events(kind=_KINDS).select("kind", "occurred_at", "payload").collect()
    runs: dict[str, dict[str, Any]] = {}
    params: dict[tuple[str, str], str] = {}
    tags: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[tuple[int, Any], float]] = {}
    decode = msgspec.json.decode
    for kind, at, payload in events.iter_rows():
        data = decode(payload)
        rid = data["run_id"]
        if kind == "run.started":
            runs[rid] = {
                "run_id": rid,
                "experiment_id": data.get("experiment"),
                "status": "RUNNING",
                "start_time": at,
                "end_time": None,
                "run_name": data.get("name"),
            }
            params.update({(rid, k): _str(v) for k, v in (data.get("params") or {}).items()})
            tags.update({(rid, k): v for k, v in (data.get("tags") or {}).items()})
        elif kind == "run.param_logged":
            params[(rid, data["key"])] = _str(data["value"])
        elif kind == "run.tag_set":
            tags[(rid, data["key"])] = data["value"]
        elif kind == "run.finished" and rid in runs:
            runs[rid].update(status=_STATUS_OUT.get(data["status"], data["status"]), end_time=at)
        elif kind == "run.metric_logged":
            order = (data.get("step", 0), at)
            key = (rid, data["key"])
            if key not in latest or order >= latest[key][0]:
                latest[key] = (order, float(data["value"]))
    keep = {rid for rid, r in runs.items() if experiments is None or r["experiment_id"] in experiments}
    base = pl.DataFrame([runs[r] for r in runs if r in keep], schema=_BASE)

    def rows(values: dict[tuple[str, str], Any], dtype: pl.DataType) -> pl.DataFrame:
        kept = [(rid, k, v) for (rid, k), v in values.items() if rid in keep]
        return pl.DataFrame(
            kept, schema={"run_id": pl.String, "key": pl.String, "value": dtype}, orient="row"
        )

    maps = {
        "metrics": rows({k: v for k, (_, v) in latest.items()}, pl.Float64()),
        "params": rows(params, pl.String()),
        "tags": rows(tags, pl.String()),
    }
    return base, maps


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)  # as MLflow stores a param


def search_runs(
    ledger: Ledger,
    experiments: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
) -> pl.DataFrame:
    """The runs that pass the filter, in MLflow's columns: attributes, ``metrics.*``,
    ``params.*``, ``tags.*``; ordered by ``order_by`` then newest first, like MLflow."""
    base, maps = _collect(ledger, experiments)
    sources = {name: Source(frame, "run_id", "value") for name, frame in maps.items()}
    order = [*(order_by or []), "start_time DESC", "run_id"]
    kept = search(
        base, filter_string or None, order_by=order, limit=max_results, aliases=ALIASES, sources=sources
    )
    ids = kept["run_id"].implode()
    wide = kept.drop("run_name")
    for name, frame in maps.items():
        mine = frame.filter(pl.col("run_id").is_in(ids))
        if mine.height:
            pivot = mine.pivot(on="key", index="run_id", values="value", sort_columns=True)
            wide = wide.join(
                pivot.rename({c: f"{name}.{c}" for c in pivot.columns if c != "run_id"}),
                on="run_id",
                how="left",
                maintain_order="left",
            )
    return wide
