"""The artifact registry: latest registration per name, retired or not, how many versions.

Retired means the last ``artifact.retired`` came after the last registration, so registering
again after a retirement brings the artifact back.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

KINDS = ("artifact.registered", "artifact.retired")

REGISTERED = ("name", "uri", "config_hash", "content_hash", "size_bytes", "run_id", "inputs")


def _registered(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ArtifactRegistered, REGISTERED)


def _retired(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ArtifactRetired, ["name", "reason"])


PARTS = (
    Part(
        "registered",
        ("name",),
        {
            "uri": ("last", None),
            "config_hash": ("last", None),
            "content_hash": ("last", None),
            "size_bytes": ("last", None),
            "run_id": ("last", None),
            "inputs": ("last", None),
            "registered_at": ("last", "recorded_at"),
            "registered_by": ("last", "writer_user"),
            "registered_pos": ("last", "pos"),
            "first_registered_at": ("first", "recorded_at"),
            "versions": ("count", None),
        },
        _registered,
    ),
    Part(
        "retired",
        ("name",),
        {
            "retired_at": ("last", "recorded_at"),
            "retired_by": ("last", "writer_user"),
            "retire_reason": ("last", "reason"),
            "retired_pos": ("last", "pos"),
        },
        _retired,
    ),
)

COLUMNS = [
    "name",
    "uri",
    "retired",
    "versions",
    "config_hash",
    "content_hash",
    "size_bytes",
    "run_id",
    "inputs",
    "registered_at",
    "registered_by",
    "first_registered_at",
    "retired_at",
    "retire_reason",
]


def present(state: State, ctx: Context | None = None) -> pl.DataFrame:
    return (
        state["registered"]
        .lazy()
        .join(state["retired"].lazy(), on="name", how="left")
        .with_columns(retired=pl.col("retired_pos").fill_null(-1) > pl.col("registered_pos"))
        .with_columns(
            retired_at=pl.when("retired").then("retired_at"),
            retire_reason=pl.when("retired").then("retire_reason"),
        )
        .select(COLUMNS)
        .sort("name")
        .collect()
    )


def artifacts(events: pl.LazyFrame) -> pl.DataFrame:
    """The registry view from events alone."""
    return present(reduce(PARTS, prepare(events)))


def artifact_history(events: pl.LazyFrame, name: str | None = None) -> pl.DataFrame:
    """Every registration and retirement, oldest first (``name`` to narrow it down)."""
    frame = prepare(events)
    if name is not None:
        frame = frame.filter(pl.col("stream") == f"artifact/{name}")
    reg = _registered(frame).with_columns(
        action=pl.lit("registered"), reason=pl.lit(None, pl.String)
    )
    ret = _retired(frame).with_columns(action=pl.lit("retired"))
    return (
        pl.concat([reg, ret], how="diagonal_relaxed")
        .sort("version", "seq")
        .select(
            "name",
            "action",
            "uri",
            "config_hash",
            "content_hash",
            "run_id",
            "reason",
            pl.col("recorded_at").alias("at"),
            pl.col("writer_user").alias("by"),
            "version",
        )
        .collect()
    )
