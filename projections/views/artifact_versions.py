"""Every registration of every artifact name, numbered per name (1, 2, ...).

The ``artifacts`` view shows the latest registration per name; this one keeps them all, so five
runs registering ``churn-model`` are five rows. "Latest" and "best by metric" are then queries:
``--order-by version DESC --limit 1`` or, joined with the runs' metrics, ``--order-by
metrics.auc DESC --limit 1`` (see ``api.search``).
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.projections.views.artifacts import REGISTERED
from lakeledger.store import events as ev

KINDS = ("artifact.registered", "artifact.retired")


def _retired(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ArtifactRetired, ["name"])


PARTS = (
    Part(
        "registrations",
        ("name", "pos"),
        {
            "uri": ("first", None),
            "content_hash": ("first", None),
            "size_bytes": ("first", None),
            "config_hash": ("first", None),
            "run_id": ("first", None),
            "registered_at": ("first", "recorded_at"),
            "registered_by": ("first", "writer_user"),
        },
        lambda e: rows(e, ev.ArtifactRegistered, REGISTERED),
    ),
    Part("retired", ("name",), {"retired_pos": ("last", "pos")}, _retired),
)

COLUMNS = [
    "name",
    "version",
    "uri",
    "run_id",
    "content_hash",
    "size_bytes",
    "config_hash",
    "latest",
    "retired",
    "registered_at",
    "registered_by",
]


def present(state: State, ctx: Context | None = None) -> pl.DataFrame:
    return (
        state["registrations"]
        .lazy()
        .join(state["retired"].lazy(), on="name", how="left")
        .with_columns(
            # by log position, whatever order the join left the rows in
            version=pl.col("pos").rank("ordinal").over("name").cast(pl.Int64),
            latest=pl.col("pos") == pl.col("pos").max().over("name"),
        )
        .with_columns(
            retired=pl.col("latest") & (pl.col("retired_pos").fill_null(-1) > pl.col("pos"))
        )
        .select(COLUMNS)
        .sort("name", "version")
        .collect()
    )


def artifact_versions(events: pl.LazyFrame) -> pl.DataFrame:
    """Every registration, from events alone."""
    return present(reduce(PARTS, prepare(events)))
