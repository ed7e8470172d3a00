"""Benchmark: CSV -> bronze through the real runner (check, quarantine, Delta commits, events).

Each measurement runs in a fresh child process, so its peak RSS (``ru_maxrss``) is the ingest's
own. Two file sizes show whether peak memory depends on the input size (it should not: batches
are streamed). Targets on 2 cores: >= 300k rows/s; memory ratio big/small close to 1.

    python scripts/bench/ingest.py [--rows 1000000] [--factor 4] [--repeat 3] [--batch-rows 250000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl


def make_csv(path: Path, rows: int) -> None:
    """Orders-like rows; 0.1% have a bad amount and go to quarantine."""
    frame = pl.select(
        id=pl.int_range(rows, dtype=pl.Int64),
        customer=pl.format("c{}", pl.int_range(rows) % 5000),
        amount=pl.when(pl.int_range(rows) % 1000 == 7)
        .then(pl.lit("n/a"))
        .otherwise((pl.int_range(rows) % 10_000 / 100).cast(pl.String)),
        paid=(pl.int_range(rows) % 3 == 0),
        at=pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(seconds=pl.int_range(rows)),
    )
    frame.write_csv(path)


def child(csv: str, batch_rows: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from lakeledger.ingest.extract.config import decode
    from lakeledger.ingest.extract.runner import run_sources
    from lakeledger.store import Ledger

    root = tempfile.mkdtemp(prefix="ll-bench-")
    raw = {
        "sources": [
            {
                "name": "orders",
                "kind": "csv",
                "options": {"path": csv},
                "batch_rows": batch_rows,
                "schema": {
                    "id": "int",
                    "customer": "str",
                    "amount": "float",
                    "paid": "bool",
                    "at": "datetime",
                },
            }
        ]
    }
    ledger = Ledger.open(root)
    loaded = decode(raw, "<bench>")
    start = time.perf_counter()
    [result] = run_sources(ledger, loaded)
    seconds = time.perf_counter() - start
    ledger.close()
    assert result.status == "success", result.error
    queue.put(
        {
            "rows": result.read,
            "written": result.written,
            "quarantined": result.quarantined,
            "seconds": seconds,
            "batches": result.batches,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(csv: Path, batch_rows: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")  # deltalake's tokio runtime does not survive fork
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(str(csv), batch_rows, queue))
    proc.start()
    out = queue.get(timeout=600)
    proc.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument("--factor", type=int, default=4, help="big file = FACTOR x --rows")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ll-bench-csv-"))
    sizes = {"small": args.rows, "big": args.rows * args.factor}
    report: dict[str, dict[str, float]] = {}
    for label, rows in sizes.items():
        csv = work / f"{label}.csv"
        make_csv(csv, rows)
        runs = [measure(csv, args.batch_rows) for _ in range(args.repeat)]
        report[label] = {
            "rows": rows,
            "file_mb": round(os.path.getsize(csv) / 2**20, 1),
            "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
            "rows_per_s": round(statistics.median(r["rows"] / r["seconds"] for r in runs)),
            "peak_mb": round(statistics.median(r["peak_mb"] for r in runs), 1),
            "quarantined": runs[0]["quarantined"],
            "batches": runs[0]["batches"],
        }
    ratio = report["big"]["peak_mb"] / report["small"]["peak_mb"]
    if args.json:
        print(json.dumps({**report, "peak_memory_ratio_big_vs_small": round(ratio, 2)}))
        return
    print(f"CSV -> bronze, batch_rows={args.batch_rows:,}, median of {args.repeat}")
    for label, r in report.items():
        print(
            f"  {label:5} {r['rows']:>10,} rows ({r['file_mb']} MB): {r['rows_per_s']:>10,} rows/s "
            f"({r['median_s']} s, {r['batches']} batches, {r['quarantined']:,} quarantined), "
            f"peak RSS {r['peak_mb']} MB"
        )
    size_ratio = sizes["big"] / sizes["small"]
    print(
        f"  input size ratio big/small: {size_ratio:.1f}x; peak memory ratio: {ratio:.2f}x "
        f"(target: close to 1)"
    )
    verdict = "met" if report["small"]["rows_per_s"] >= 300_000 else "NOT met"
    print(f"  target >= 300,000 rows/s on the {sizes['small']:,}-row file: {verdict}")


if __name__ == "__main__":
    main()
