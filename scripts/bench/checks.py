"""Benchmark: the full quality suite on a 10M-row, 20-column frame.

Prints the median wall time of several runs (and of the first pass alone) and the number
of passes over the data the suite made (target on 2 cores: <= 3 s and <= 2 passes). Data
is generated deterministically with polars hashes (no numpy needed). ``--parquet`` also
runs the suite on lazy Parquet scans of the same data (there, failures cost a pass over the
failing checks' columns and a fetch of sample rows by index: 3 queries).

    python scripts/bench/checks.py [--rows 10000000] [--repeat 5] [--parquet]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import polars as pl
from lakeledger.ingest.checks import (
    KS,
    PSI,
    Categories,
    Completeness,
    Freshness,
    NoNulls,
    Range,
    RowCount,
    Schema,
    Suite,
    Uniqueness,
)

CATS = ["alpha", "beta", "gamma", "delta", "eps"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_frame(rows: int, shift: float = 0.0) -> pl.DataFrame:
    i = pl.int_range(rows, dtype=pl.Int64)

    def u(seed: int) -> pl.Expr:  # uniform [0, 1)
        return (i.hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003

    cols: dict[str, pl.Expr] = {"id": i}
    for k in range(8):
        x = u(k) * 100 + shift
        cols[f"f{k}"] = pl.when(u(100 + k) < 0.01).then(None).otherwise(x) if k < 4 else x
    for k in range(4):
        cols[f"i{k}"] = (i.hash(200 + k) % 1000).cast(pl.Int64)
    for k in range(4):
        idx = (i.hash(300 + k) % len(CATS)).cast(pl.Int64)
        cols[f"c{k}"] = pl.lit(pl.Series(CATS)).gather(idx)
    start = int((NOW - timedelta(days=30)).timestamp() * 1_000_000)
    for k in range(2):
        micros = pl.lit(start) + (i.hash(400 + k) % (30 * 86_400_000_000)).cast(pl.Int64)
        cols[f"t{k}"] = micros.cast(pl.Datetime("us", "UTC"))
    cols["flag"] = u(500) < 0.5
    return pl.select(**cols)


def suite(frame: pl.DataFrame, reference: pl.DataFrame) -> Suite:
    checks = [
        Schema({c: t for c, t in frame.schema.items()}, strict=True),
        RowCount(min=1),
        Completeness(max_null_share=0.02),
        NoNulls(["id", "i0", "c0", "t0"]),
        Uniqueness("id"),
        *(Range(f"f{k}", 0, 100) for k in range(8)),
        *(Range(f"i{k}", 0, 999) for k in range(4)),
        *(Categories(f"c{k}", CATS) for k in range(4)),
        *(Freshness(f"t{k}", timedelta(days=2), now=NOW) for k in range(2)),
        PSI("f0", reference),
        PSI("c0", reference),
        KS("f1", reference),
    ]
    return Suite(checks)


def measure(
    s: Suite, data: pl.DataFrame | pl.LazyFrame, repeat: int
) -> tuple[list[float], list[float], set[int], list[str]]:
    times, firsts, passes = [], [], set()
    for _ in range(repeat):
        report = s.run(data)
        times.append(report.seconds)
        firsts.append(report.first_pass_seconds)
        passes.add(report.passes)
    return times, firsts, passes, [r.check for r in report.results if not r.passed]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--parquet", action="store_true", help="also scan the data from Parquet files (lazy)"
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    frame = make_frame(args.rows)
    reference = make_frame(100_000)
    built = time.perf_counter() - t0
    s = suite(frame, reference)
    print(
        f"rows={args.rows:,} columns={frame.width} checks={len(s.checks)} "
        f"threads={pl.thread_pool_size()} cpus={os.cpu_count()} (data built in {built:.1f}s)"
    )
    # clean data: one pass; data with violations: one more pass for samples and details
    broken = frame.with_columns(pl.col("f0") + 50, pl.col("c1").str.replace("eps", "zeta"))
    cases: list[tuple[str, pl.DataFrame | pl.LazyFrame]] = [
        ("clean", frame),
        ("with violations", broken),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if args.parquet:
            for label, data in list(cases):
                path = os.path.join(tmp, f"{label.replace(' ', '_')}.parquet")
                data.write_parquet(path)  # type: ignore[union-attr]
                cases.append((f"{label} (Parquet scan)", pl.scan_parquet(path)))
        for label, data in cases:
            report_case(s, label, data, args.repeat)


def report_case(s: Suite, label: str, data: pl.DataFrame | pl.LazyFrame, repeat: int) -> None:
    times, firsts, passes, failed = measure(s, data, repeat)
    print(
        f"{label:>16}: median {statistics.median(times):.3f} s (first pass "
        f"{statistics.median(firsts):.3f} s; min {min(times):.3f}, max {max(times):.3f}, "
        f"{repeat} runs)  passes over the data: {sorted(passes)}  failed checks: {failed or 'none'}"
    )


if __name__ == "__main__":
    main()
