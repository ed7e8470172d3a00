"""The model registry: every model version with its current stage, aliases and metrics.

The current stage is the last ``model.stage_changed`` of the version ("None" before any), so a
version moved back from Production shows where it is now; ``model_stage_history`` has the rest.
An alias points at the version its last ``model.alias_set`` named.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.store import events as ev

KINDS = ("model.version_registered", "model.stage_changed", "model.alias_set")

# MLflow's model-version search names -> our columns (``name = 'fraud' and version_number > 2``)
ALIASES = {"name": "model", "version_number": "version", "current_stage": "stage"}

_V = {"version": "model_version"}


def _registered(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(
        events,
        ev.ModelVersionRegistered,
        ["model", "version", "artifact_uri", "framework", "run_id", "metrics", "params", "tags"],
        rename=_V,
    )


def _staged(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(
        events,
        ev.ModelStageChanged,
        ["model", "version", "stage", "previous_stage", "reason"],
        rename=_V,
    )


def _aliased(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ModelAliasSet, ["model", "alias", "version"], rename=_V)


PARTS = (
    Part(
        "versions",
        ("model", "model_version"),
        {
            "artifact_uri": ("first", None),
            "framework": ("first", None),
            "run_id": ("first", None),
            "metrics": ("first", None),
            "params": ("first", None),
            "tags": ("first", None),
            "registered_at": ("first", "recorded_at"),
            "registered_by": ("first", "writer_user"),
        },
        _registered,
    ),
    Part(
        "stages",
        ("model", "model_version"),
        {
            "stage": ("last", None),
            "stage_changed_at": ("last", "recorded_at"),
            "stage_changed_by": ("last", "writer_user"),
            "stage_reason": ("last", "reason"),
            "stage_changes": ("count", None),
        },
        _staged,
    ),
    Part("aliases", ("model", "alias"), {"alias_version": ("last", "model_version")}, _aliased),
)

COLUMNS = [
    "model",
    "version",
    "stage",
    "aliases",
    "run_id",
    "artifact_uri",
    "framework",
    "metrics",
    "params",
    "tags",
    "registered_at",
    "registered_by",
    "stage_changed_at",
    "stage_changed_by",
    "stage_reason",
    "stage_changes",
]


def present(state: State, ctx: Context | None = None) -> pl.DataFrame:
    aliases = (
        state["aliases"]
        .lazy()
        .group_by("model", "alias_version")
        .agg(pl.col("alias").sort().alias("aliases"))
        .rename({"alias_version": "model_version"})
    )
    return (
        state["versions"]
        .lazy()
        .join(state["stages"].lazy(), on=["model", "model_version"], how="left")
        .join(aliases, on=["model", "model_version"], how="left")
        .with_columns(
            pl.col("stage").fill_null("None"),
            pl.col("stage_changes").fill_null(0),
            pl.col("aliases").fill_null(pl.lit([], pl.List(pl.String))),
            pl.col("metrics").fill_null("{}"),
            pl.col("params").fill_null("{}"),
            pl.col("tags").fill_null("{}"),
        )
        .rename({"model_version": "version"})
        .select(COLUMNS)
        .sort("model", "version")
        .collect()
    )


def models(events: pl.LazyFrame) -> pl.DataFrame:
    """Every model version, from events alone."""
    return present(reduce(PARTS, prepare(events)))


def model_stage_history(events: pl.LazyFrame, model: str | None = None) -> pl.DataFrame:
    """Every stage change, oldest first: who moved which version from where to where."""
    frame = prepare(events)
    if model is not None:
        frame = frame.filter(pl.col("stream") == f"model/{model}")
    return (
        _staged(frame)
        .select(
            "model",
            pl.col("model_version").alias("model_version"),
            "previous_stage",
            "stage",
            "reason",
            pl.col("recorded_at").alias("at"),
            pl.col("writer_user").alias("by"),
            "version",
        )
        .collect()
    )
