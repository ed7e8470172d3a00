"""Benchmark: CSV -> bronze through the real runner, against polars' own CSV -> Delta, same file.

Each measurement runs in a fresh child process (spawned: deltalake's runtime does not survive
fork), so its peak RSS (``VmHWM``) is that ingest's own. Ours and polars'
``pl.scan_csv(f).sink_delta(...)`` alternate (ours, polars, ours, polars...) on the same file, so
the two ratios are measured under the same machine load. Ours also type-checks every cell,
quarantines bad rows with line numbers and commits batches exactly once with their checkpoints;
polars only parses and writes. Ours reads the next batch ahead only when a core is idle
(``runner.idle_core``): the output says in how many runs it did. Targets (issue 15): ours >= 50% of polars' rows/s, peak memory
<= 1.3x polars'. A bigger file (``--factor``) shows whether our peak memory depends on the
input size (it should not: batches are streamed).

    python scripts/bench/ingest.py [--rows 1000000] [--repeat 3] [--factor 4] [--batch-rows 250000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

SCHEMA = {
    "id": "int",
    "customer": "str",
    "amount": "float",
    "paid": "bool",
    "at": "datetime",
    "qty": "int",
    "region": "str",
    "day": "date",
}
SPEED_TARGET, MEMORY_TARGET = 0.5, 1.3


def make_csv(path: Path, rows: int) -> None:
    """Orders-like rows, 8 columns; 0.1% have a bad amount and go to quarantine."""
    i = pl.int_range(rows, dtype=pl.Int64)
    frame = pl.select(
        id=i,
        customer=pl.format("c{}", i % 5000),
        amount=pl.when(i % 1000 == 7).then(pl.lit("n/a")).otherwise((i % 10_000 / 100).cast(pl.String)),
        paid=(i % 3 == 0),
        at=pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(seconds=i),
        qty=i % 17,
        region=pl.format("region-{}", i % 12),
        day=pl.date(2024, 1, 1) + pl.duration(days=i % 365),
    )
    frame.write_csv(path)


def peak_mb() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that across
    exec, so a spawned child would report at least the RSS of the parent that forked it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(csv: str, batch_rows: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from lakeledger.ingest.extract.config import decode
    from lakeledger.ingest.extract.runner import idle_core, run_sources
    from lakeledger.store import Ledger

    root = tempfile.mkdtemp(prefix="ll-bench-")
    raw = {
        "sources": [
            {
                "name": "orders",
                "kind": "csv",
                "options": {"path": csv},
                "batch_rows": batch_rows,
                "schema": SCHEMA,
            }
        ]
    }
    ledger = Ledger.open(root)
    loaded = decode(raw, "<bench>")
    overlapped = idle_core()  # (what the runner decides as it starts: read ahead, or serially)
    start, cpu = time.perf_counter(), time.process_time()
    [result] = run_sources(ledger, loaded)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    ledger.close()
    assert result.status == "success", result.error
    queue.put(
        {
            "rows": result.read,
            "written": result.written,
            "quarantined": result.quarantined,
            "batches": result.batches,
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mb": peak_mb(),
            "read_ahead": overlapped,
        }
    )
    shutil.rmtree(root, ignore_errors=True)


def theirs(csv: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    import deltalake  # noqa: F401 - imported before the clock starts, as ours imports it

    target = tempfile.mkdtemp(prefix="ll-bench-polars-")
    start, cpu = time.perf_counter(), time.process_time()
    pl.scan_csv(csv).sink_delta(target, mode="append")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = pl.scan_delta(target).select(pl.len()).collect().item()
    queue.put({"rows": rows, "seconds": seconds, "cpu_s": cpu, "peak_mb": peak_mb()})
    shutil.rmtree(target, ignore_errors=True)


def make_in_child(path: Path, rows: int) -> None:
    """The file is made in a child, so the parent (whose memory a child starts from) stays small."""
    proc = mp.get_context("spawn").Process(target=make_csv, args=(path, rows))
    proc.start()
    proc.join()


def measure(target: Any, *args: Any) -> dict[str, float]:
    ctx = mp.get_context("spawn")  # deltalake's tokio runtime does not survive fork
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get(timeout=900)
    proc.join()
    return out  # type: ignore[no-any-return]


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "rows_per_s": round(statistics.median(r["rows"] / r["seconds"] for r in runs)),
        "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
        # CPU seconds of all the process's threads: steadier than wall time on a loaded machine
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "peak_mb": round(statistics.median(r["peak_mb"] for r in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument("--factor", type=int, default=4, help="big file = FACTOR x --rows (0: skip it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ll-bench-csv-"))
    csv = work / "small.csv"
    make_in_child(csv, args.rows)
    load_before = os.getloadavg()
    mine: list[dict[str, float]] = []
    polars: list[dict[str, float]] = []
    for _ in range(args.repeat):  # interleaved: both see the same machine load
        mine.append(measure(ours, str(csv), args.batch_rows))
        polars.append(measure(theirs, str(csv)))
    a, b = summary(mine), summary(polars)
    speed = a["rows_per_s"] / b["rows_per_s"]
    memory = a["peak_mb"] / b["peak_mb"]
    cpu = a["cpu_s"] / b["cpu_s"]
    # the same ratios per pair, to show their spread
    speeds = [p["seconds"] / m["seconds"] for m, p in zip(mine, polars, strict=True)]
    memories = [m["peak_mb"] / p["peak_mb"] for m, p in zip(mine, polars, strict=True)]
    big: dict[str, float] | None = None
    if args.factor > 1:
        big_csv = work / "big.csv"
        make_in_child(big_csv, args.rows * args.factor)
        big = summary([measure(ours, str(big_csv), args.batch_rows)])
    load_after = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "rows": args.rows,
        "ours": {**a, "quarantined": mine[0]["quarantined"], "batches": mine[0]["batches"],
                 "read_ahead_runs": sum(bool(m["read_ahead"]) for m in mine)},
        "polars_sink_delta": b,
        "speed_ratio": round(speed, 3),
        "memory_ratio": round(memory, 3),
        "cpu_ratio": round(cpu, 3),
        "speed_ratios": [round(x, 3) for x in speeds],
        "memory_ratios": [round(x, 3) for x in memories],
        "load_average": [round(x, 1) for x in (*load_before, *load_after)],
    }
    if big is not None:
        report["big"] = {"rows": args.rows * args.factor, **big}
    if args.json:
        print(json.dumps(report))
        return
    print(f"CSV -> bronze, {args.rows:,} rows x {len(SCHEMA)} columns, batch_rows={args.batch_rows:,}, "
          f"median of {args.repeat}, interleaved")
    print(f"  ours (validated, exactly once) {a['rows_per_s']:>10,} rows/s ({a['median_s']} s, "
          f"{mine[0]['batches']} batches, {mine[0]['quarantined']:,} quarantined), peak RSS {a['peak_mb']} MB, "
          f"read ahead in {report['ours']['read_ahead_runs']} of {args.repeat} runs (only with an idle core)")
    print(f"  polars scan_csv().sink_delta() {b['rows_per_s']:>10,} rows/s ({b['median_s']} s), "
          f"peak RSS {b['peak_mb']} MB")
    ok = "met" if speed >= SPEED_TARGET else "NOT met"
    print(f"  speed ratio ours/polars  {speed:.2f} (pairs {report['speed_ratios']})  target >= {SPEED_TARGET}: {ok}")
    ok = "met" if memory <= MEMORY_TARGET else "NOT met"
    print(f"  memory ratio ours/polars {memory:.2f} (pairs {report['memory_ratios']})  "
          f"target <= {MEMORY_TARGET}: {ok}")
    print(f"  CPU seconds ours/polars {cpu:.2f} ({a['cpu_s']} s / {b['cpu_s']} s, all threads; under load the "
          "speed ratio tends to its inverse)")
    if big is not None:
        print(f"  ours on {args.rows * args.factor:,} rows: {big['rows_per_s']:,} rows/s, peak RSS "
              f"{big['peak_mb']} MB ({big['peak_mb'] / a['peak_mb']:.2f}x the {args.rows:,}-row peak; "
              "target: close to 1)")
    print(f"  load average before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
          f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}")


if __name__ == "__main__":
    main()
