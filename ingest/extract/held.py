"""What bronze and quarantine hold, per source and run: the counts `ingest status` reports.

A run killed before it logged its metrics still wrote rows; counting the tables themselves keeps
the status exact whatever happened to the process (each bronze row carries its ``_run_id``, each
quarantined row its ``run_id``).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
from lakeledger.ingest.extract.bronze import META, Bronze
from lakeledger.ingest.extract.quarantine import Quarantine
from lakeledger.store.location import Location

SCHEMA = {"source": pl.String, "run_id": pl.String, "written": pl.Int64, "quarantined": pl.Int64}


def held(location: Location, sources: Iterable[str]) -> pl.DataFrame:
    """Rows per (source, run_id): ``written`` in bronze, ``quarantined`` in quarantine."""
    frames = []
    for source in sources:
        bronze = Bronze(location, source, [])
        table = bronze.table()
        if table is None:
            continue
        frames.append(
            bronze.files.scan(table)
            .group_by(pl.col(META["run_id"]).alias("run_id"))
            .agg(pl.len().cast(pl.Int64).alias("written"))
            .with_columns(pl.lit(source).alias("source"))
            .collect()
        )
    written = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=SCHEMA)
    quarantined = (
        Quarantine(location)
        .scan()
        .group_by("source", "run_id")
        .agg(pl.len().cast(pl.Int64).alias("quarantined"))
        .collect()
    )
    both = written.select("source", "run_id", "written").join(
        quarantined, on=["source", "run_id"], how="full", coalesce=True
    )
    return both.with_columns(pl.col("written", "quarantined").fill_null(0)).select(list(SCHEMA))
