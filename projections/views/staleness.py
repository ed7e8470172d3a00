"""Staleness: one status per (not retired) artifact, with the reason.

In order of precedence:
- ``missing``: its file is gone from storage. Checking storage is not pure, so the caller passes
  the uris found missing in ``Context.missing`` (``api.py`` checks them through fsspec).
- ``corrupted``: its copy in lakeledger's artifact store no longer hashes to its checksum
  (``Context.corrupted``, hashed by ``engine/world.py``).
- ``stale``: the latest declared config of the artifact's name has another ``config_hash``, or
  one of its ``inputs`` changed after it was registered. An input is ``artifact/NAME`` (registered
  again later), ``dataset/NAME`` (any partition observed later), ``dataset/NAME/PARTITION`` (that
  partition observed again later) or a bare name, as stages and ingestion write them
  (``bronze/sales``: an artifact of that name registered, or a dataset of that name observed,
  later). A version pin after ``@`` (``features@v3``, ``bronze/sales@sha256:...``) is ignored:
  what counts is whether the named thing changed after the artifact.
- ``orphaned``: nothing owns it: no config or dataset of its name is declared and its
  ``config_hash`` is no declared config's hash.
- ``fresh`` otherwise. A config declared after its artifact with the same hash makes it fresh.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.projections.views.artifacts import KINDS as ARTIFACT_KINDS
from lakeledger.projections.views.artifacts import PARTS as ARTIFACT_PARTS

KINDS = (*ARTIFACT_KINDS, "config.declared", "dataset.declared", "partition.observed")


def _configs(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, "config.declared", {"name": pl.String, "config_hash": pl.String})


def _observed(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, "partition.observed", {"dataset": pl.String, "partition": pl.String})


PARTS = (
    *ARTIFACT_PARTS,
    Part(
        "configs",
        ("name",),
        {"latest_hash": ("last", "config_hash"), "config_pos": ("last", "pos")},
        _configs,
    ),
    Part("hashes", ("config_hash",), {"declarations": ("count", None)}, _configs),
    Part(
        "datasets",
        ("dataset",),
        {"declarations": ("count", None)},
        lambda e: rows(e, "dataset.declared", {"dataset": pl.String}),
    ),
    Part("dataset_obs", ("dataset",), {"observed_pos": ("last", "pos")}, _observed),
    Part("partition_obs", ("dataset", "partition"), {"observed_pos": ("last", "pos")}, _observed),
)

COLUMNS = ["name", "status", "reason", "uri", "config_hash", "registered_at"]


def uris(state: State) -> list[str]:
    """The uris whose existence the view depends on (latest of every live artifact)."""
    return present_artifacts(state)["uri"].drop_nulls().unique().sort().to_list()


def present_artifacts(state: State) -> pl.DataFrame:
    return (
        state["registered"]
        .lazy()
        .join(state["retired"].lazy(), on="name", how="left")
        .filter(pl.col("retired_pos").fill_null(-1) < pl.col("registered_pos"))
        .collect()
    )


def _changed_inputs(live: pl.LazyFrame, state: State) -> pl.LazyFrame:
    """Per artifact, the first input that changed after the artifact was registered."""
    inputs = (
        live.select("name", "registered_pos", pl.col("inputs").alias("input"))
        .explode("input")
        .filter(pl.col("input").is_not_null())
        .with_columns(_ref=pl.col("input").str.replace(r"@[^/]*$", ""))
        .with_columns(_parts=pl.col("_ref").str.splitn("/", 3))
        .with_columns(
            _is_dataset=pl.col("_parts").struct.field("field_0") == "dataset",
            _dataset=pl.col("_parts").struct.field("field_1"),
            _partition=pl.col("_parts").struct.field("field_2"),
            _artifact=pl.when(pl.col("_ref").str.starts_with("artifact/"))
            .then(pl.col("_ref").str.slice(len("artifact/")))
            .otherwise(pl.col("_ref")),
            _bare=pl.when(~pl.col("_ref").str.starts_with("artifact/")).then(pl.col("_ref")),
        )
    )
    artifact_pos = (
        state["registered"]
        .lazy()
        .select(pl.col("name").alias("_artifact"), pl.col("registered_pos").alias("_apos"))
    )
    dataset_pos = (
        state["dataset_obs"]
        .lazy()
        .select(pl.col("dataset").alias("_dataset"), pl.col("observed_pos").alias("_dpos"))
    )
    partition_pos = (
        state["partition_obs"]
        .lazy()
        .select(
            pl.col("dataset").alias("_dataset"),
            pl.col("partition").alias("_partition"),
            pl.col("observed_pos").alias("_ppos"),
        )
    )
    bare_dataset_pos = dataset_pos.rename({"_dataset": "_bare", "_dpos": "_bpos"})
    later = (
        pl.when(~pl.col("_is_dataset"))
        .then(pl.max_horizontal("_apos", "_bpos"))
        .when(pl.col("_partition").is_null())
        .then(pl.col("_dpos"))
        .otherwise(pl.col("_ppos"))
    )
    return (
        inputs.join(artifact_pos, on="_artifact", how="left")
        .join(dataset_pos, on="_dataset", how="left")
        .join(partition_pos, on=["_dataset", "_partition"], how="left")
        .join(bare_dataset_pos, on="_bare", how="left")
        .filter(later.fill_null(-1) > pl.col("registered_pos"))
        .group_by("name")
        .agg(pl.col("input").first().alias("changed_input"))
    )


def present(state: State, ctx: Context) -> pl.DataFrame:
    live = present_artifacts(state).lazy()
    missing = pl.DataFrame({"uri": sorted(ctx.missing)}, schema={"uri": pl.String}).with_columns(
        _missing=pl.lit(True)
    )
    corrupted = pl.DataFrame({"uri": sorted(ctx.corrupted)}, schema={"uri": pl.String})
    datasets = (
        state["datasets"].lazy().select(pl.col("dataset").alias("name"), _dataset=pl.lit(True))
    )
    hashes = state["hashes"].lazy().select("config_hash", _known_hash=pl.lit(True))
    short = pl.col("config_hash").str.slice(0, 12).fill_null("none")
    return (
        live.join(missing.lazy(), on="uri", how="left")
        .with_columns(_corrupted=pl.col("uri").is_in(corrupted["uri"].implode()))
        .join(state["configs"].lazy(), on="name", how="left")
        .join(datasets, on="name", how="left")
        .join(hashes, on="config_hash", how="left")
        .join(_changed_inputs(live, state), on="name", how="left")
        .with_columns(
            _config_moved=pl.col("latest_hash").is_not_null()
            & (pl.col("config_hash").is_null() | (pl.col("latest_hash") != pl.col("config_hash"))),
            _owned=pl.col("latest_hash").is_not_null()
            | pl.col("_dataset").fill_null(False)
            | pl.col("_known_hash").fill_null(False),
        )
        .with_columns(
            status=pl.when(pl.col("_missing").fill_null(False))
            .then(pl.lit("missing"))
            .when(pl.col("_corrupted"))
            .then(pl.lit("corrupted"))
            .when(pl.col("_config_moved") | pl.col("changed_input").is_not_null())
            .then(pl.lit("stale"))
            .when(~pl.col("_owned"))
            .then(pl.lit("orphaned"))
            .otherwise(pl.lit("fresh")),
            reason=pl.when(pl.col("_missing").fill_null(False))
            .then(pl.format("file {} is gone from storage", "uri"))
            .when(pl.col("_corrupted"))
            .then(pl.format("stored copy {} no longer matches its sha256", "uri"))
            .when(pl.col("_config_moved"))
            .then(
                pl.format(
                    "config {} is now {}, artifact built with {}",
                    "name",
                    pl.col("latest_hash").str.slice(0, 12),
                    short,
                )
            )
            .when(pl.col("changed_input").is_not_null())
            .then(pl.format("input {} changed after it was registered", "changed_input"))
            .when(~pl.col("_owned"))
            .then(pl.lit("no declared config or dataset owns it"))
            .otherwise(pl.lit("")),
        )
        .select(COLUMNS)
        .sort("name")
        .collect()
    )


def staleness(events: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
    """Artifact statuses from events alone; ``ctx.missing`` holds uris known to be gone."""
    return present(reduce(PARTS, prepare(events)), ctx)
