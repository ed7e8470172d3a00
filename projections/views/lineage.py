"""Lineage as of any moment: datasets and jobs linked by the OpenLineage events received.

A job run (or a JobEvent) that read ``inputs`` and wrote ``outputs`` gives the edges
``input -> job`` and ``job -> output``; an edge is known from the first event that showed it.
Because the events carry their commit version and time, the graph "as of" a past moment is
the graph of the events recorded up to it: what Marquez cannot answer, this view can.
Pure functions: ``edges(events)`` then ``neighbourhood(edges, node, depth)``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import polars as pl
from lakeledger.projections.engine.payload import payload_struct
from lakeledger.store import events as ev

KINDS = ("lineage.received",)

EDGE_SCHEMA = {
    "source": pl.String,
    "target": pl.String,
    "role": pl.String,  # "input" (dataset -> job) or "output" (job -> dataset)
    "first_version": pl.Int64,
    "last_version": pl.Int64,
    "last_seen": pl.Datetime("us", "UTC"),
    "events": pl.UInt32,
}

_FIELDS = ("subject", "event_type", "inputs", "outputs")


def edges(events: pl.LazyFrame) -> pl.DataFrame:
    """Every edge seen in ``lineage.received`` rows (``version``, ``recorded_at``, ``payload``)."""
    body = (
        events.filter(pl.col("kind") == "lineage.received")
        .select("version", "recorded_at", payload_struct(ev.LineageReceived, _FIELDS).alias("b"))
        .unnest("b")
    )
    def edges(column: str, role: str) -> pl.LazyFrame:
        """One edge per listed dataset: an input flows into the subject, an output out of it."""
        ends = [pl.col(column), pl.col("subject")]
        source, target = ends if role == "input" else ends[::-1]
        return (
            body.explode(column)
            .filter(pl.col(column).is_not_null())
            .select(source.alias("source"), target.alias("target"), pl.lit(role).alias("role"),
                    "version", "recorded_at")
        )

    return (
        pl.concat([edges("inputs", "input"), edges("outputs", "output")])
        .group_by("source", "target", "role")
        .agg(
            pl.col("version").min().alias("first_version"),
            pl.col("version").max().alias("last_version"),
            pl.col("recorded_at").max().alias("last_seen"),
            pl.len().cast(pl.UInt32).alias("events"),
        )
        .sort("source", "target")
        .collect()
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
    )


def nodes(events: pl.LazyFrame) -> dict[str, str]:
    """Node id -> type (``job`` or ``dataset``) for every subject and dataset seen."""
    body = (
        events.filter(pl.col("kind") == "lineage.received")
        .select(payload_struct(ev.LineageReceived, _FIELDS).alias("b"))
        .unnest("b")
        .collect()
    )
    found: dict[str, str] = {}
    for subject, event_type, ins, outs in body.iter_rows():
        found[subject] = "dataset" if event_type == "DATASET" else "job"
        for d in [*(ins or []), *(outs or [])]:
            found.setdefault(d, "dataset")
    return found


def neighbourhood(edge_frame: pl.DataFrame, node: str, depth: int) -> dict[str, Any]:
    """Edges within ``depth`` hops of ``node``, upstream and downstream (not sideways)."""
    rows = edge_frame.to_dicts()
    down: dict[str, list[dict[str, Any]]] = {}
    up: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        down.setdefault(r["source"], []).append(r)
        up.setdefault(r["target"], []).append(r)
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for index, far_end in ((down, "target"), (up, "source")):
        queue: deque[tuple[str, int]] = deque([(node, 0)])
        seen = {node}
        while queue:
            current, hops = queue.popleft()
            if hops >= depth:
                continue
            for r in index.get(current, []):
                kept[(r["source"], r["target"])] = r
                if r[far_end] not in seen:
                    seen.add(r[far_end])
                    queue.append((r[far_end], hops + 1))
    ordered = sorted(kept.values(), key=lambda r: (r["source"], r["target"]))
    ids = sorted({node} | {r["source"] for r in ordered} | {r["target"] for r in ordered})
    return {"edges": ordered, "node_ids": ids}
