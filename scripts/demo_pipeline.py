"""A three-stage pipeline on lakeledger declarative stages.

    python scripts/demo_pipeline.py ROOT                 # run (computes or skips each stage)
    python scripts/demo_pipeline.py ROOT --window 14     # a config change for one stage
    python scripts/demo_pipeline.py ROOT --plan          # declare configs, show what would run

bronze/sales (seeded here, as ingestion would) -> clean_sales -> monthly_features
(partitioned by month) -> store_report. Prints one line per stage; ``--json`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec
import polars as pl
from deltalake import DeltaTable
from lakeledger.ingest.stages import Partitioning, Stage, stage
from lakeledger.store import HashableConfig, Ledger

REGIONS = ("north", "south", "east", "west")


class Sale(msgspec.Struct):
    sale_id: int
    store: str
    region: Literal["north", "south", "east", "west"]
    sold_at: datetime
    amount: float | None


class CleanConfig(HashableConfig):
    min_amount: float = 0.0


class CleanSale(msgspec.Struct):
    sale_id: int
    store: str
    region: Literal["north", "south", "east", "west"]
    sold_at: datetime
    amount: Annotated[float, msgspec.Meta(ge=0)]


class FeatureConfig(HashableConfig):
    window: int = 7


class StoreMonth(msgspec.Struct):
    store: str
    month_start: datetime
    sales: int
    revenue: float
    rolling_revenue: float


class ReportConfig(HashableConfig):
    top_n: int = 3


class StoreRank(msgspec.Struct):
    store: str
    revenue: float
    rank: Annotated[int, msgspec.Meta(ge=1)]


def seed_bronze(ledger: Ledger, rows: int = 20_000) -> None:
    """Write bronze/sales as a Delta table once (ingestion would do this)."""
    path = ledger.location.join("bronze", "sales")
    if DeltaTable.is_deltatable(path, storage_options=ledger.location.options):
        return
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "sale_id": range(rows),
            "store": [f"s{rng.randrange(12):02d}" for _ in range(rows)],
            "region": [rng.choice(REGIONS) for _ in range(rows)],
            "sold_at": [
                start + timedelta(minutes=rng.randrange(180 * 24 * 60)) for _ in range(rows)
            ],
            "amount": [
                None if rng.random() < 0.01 else round(rng.uniform(-5, 200), 2) for _ in range(rows)
            ],
        },
        schema_overrides={"sold_at": pl.Datetime("us", "UTC")},
    )
    frame.write_delta(path, storage_options=ledger.location.options)


def pipeline(ledger: Ledger) -> list[Stage]:
    @stage(
        ledger, "clean_sales", inputs={"bronze/sales": Sale}, output=CleanSale, config=CleanConfig
    )
    def clean_sales(sales: pl.LazyFrame, cfg: CleanConfig) -> pl.LazyFrame:
        return sales.filter(pl.col("amount").is_not_null() & (pl.col("amount") >= cfg.min_amount))

    @stage(
        ledger,
        "monthly_features",
        inputs=["clean_sales"],
        output=StoreMonth,
        config=FeatureConfig,
        partition_by=Partitioning("month_start", "M"),
    )
    def monthly_features(clean: pl.LazyFrame, cfg: FeatureConfig) -> pl.LazyFrame:
        return (
            clean.group_by("store", pl.col("sold_at").dt.truncate("1mo").alias("month_start"))
            .agg(pl.len().alias("sales"), pl.col("amount").sum().alias("revenue"))
            .sort("store", "month_start")
            .with_columns(
                pl.col("revenue")
                .rolling_sum(cfg.window, min_samples=1)
                .over("store")
                .alias("rolling_revenue")
            )
            .with_columns(pl.col("sales").cast(pl.Int64))
        )

    @stage(
        ledger, "store_report", inputs=["monthly_features"], output=StoreRank, config=ReportConfig
    )
    def store_report(features: pl.LazyFrame, cfg: ReportConfig) -> pl.LazyFrame:
        return (
            features.group_by("store")
            .agg(pl.col("revenue").sum())
            .sort("revenue", descending=True)
            .head(cfg.top_n)
            .with_columns(pl.int_range(1, pl.len() + 1).alias("rank"))
        )

    return [clean_sales, monthly_features, store_report]


def configs(args: argparse.Namespace) -> list[HashableConfig]:
    return [
        CleanConfig(min_amount=args.min_amount),
        FeatureConfig(window=args.window),
        ReportConfig(top_n=args.top_n),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", help="ledger root (path or URI)")
    parser.add_argument("--min-amount", type=float, default=0.0)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--top-n", type=int, default=3)
    parser.add_argument(
        "--plan", action="store_true", help="declare configs and show what would run"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with Ledger.open(args.root) as ledger:
        seed_bronze(ledger)
        stages = pipeline(ledger)
        if args.plan:
            for st, cfg in zip(stages, configs(args), strict=True):
                st.declare(cfg)
            for st, cfg in zip(stages, configs(args), strict=True):
                state = st.freshness(cfg)
                rows.append(
                    {
                        "stage": st.name,
                        "status": state.status,
                        "reasons": state.reasons
                        + [f"upstream {u} is stale" for u in state.upstream_stale],
                        "artifact_config_hash": state.artifact.config_hash
                        if state.artifact
                        else None,
                        "declared_config_hash": state.config_hash,
                    }
                )
        else:
            for st, cfg in zip(stages, configs(args), strict=True):
                result = st(cfg)
                rows.append(
                    {
                        "stage": st.name,
                        "status": result.status,
                        "message": result.message,
                        "version": result.version,
                        "inputs": result.inputs,
                        "config_hash": result.config_hash,
                        "rows": result.rows,
                        "partitions": len(result.partitions),
                    }
                )
    for row in rows:
        print(
            json.dumps(row)
            if args.json
            else f"{row['stage']:<18} {row['status']:<9} "
            f"{row.get('message') or '; '.join(row.get('reasons') or []) or 'up to date'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
