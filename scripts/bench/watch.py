"""Benchmark of ``lakeledger watch``: how soon a landed file is readable as an event, and how
long a start-up catch-up of many existing partitions takes.

Figures (real ``lakeledger watch`` processes, real files, local ledger):
- delay from a file's completion (its last byte written and closed) to its ``partition.observed``
  event being readable from the ledger: p50 / p95, and p50 beyond the debounce interval
  (target: <= 1 s);
- catch-up of N existing partitions (one Parquet file each, hive ``date=`` directories): time
  from starting the watcher to the N-th event readable (target for 10k: <= 30 s on 2 cores),
  the same with ``--once`` (process exit), and a restart where everything is registered already.

Usage: python scripts/bench/watch.py [--files 40] [--partitions 10000] [--debounce-ms 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from lakeledger.store import Ledger

EXE = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))


def parquet_bytes(seed: int, rows: int = 100) -> bytes:
    table = pa.table({"id": pa.array(range(seed, seed + rows), pa.int64()),
                      "amount": pa.array([float(i) for i in range(rows)])})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def start(
    root: Path, land: Path, dataset: str, debounce_ms: int, *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "--root", str(root), "watch", str(land), "--dataset", dataset,
         "--debounce-ms", str(debounce_ms), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"watcher exited {proc.returncode}: {err.decode()}")


class Reader(threading.Thread):
    """Polls the ledger and notes when each uri's event first became readable."""

    def __init__(self, root: Path, dataset: str) -> None:
        super().__init__(daemon=True)
        self.ledger = Ledger.open(root)
        self.dataset = dataset
        self.seen: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        import polars as pl

        while not self.done.is_set():
            frame = self.ledger.events(kind="partition.observed", stream=f"dataset/{self.dataset}")
            uris = frame.select(pl.col("payload").str.json_decode(pl.Struct({"uri": pl.String}))
                                .struct.field("uri")).collect().to_series().to_list()
            now = time.time()
            for uri in uris:
                self.seen.setdefault(uri, now)
            time.sleep(0.01)

    def wait_count(self, n: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.seen)} of {n} events readable after {timeout}s")
            time.sleep(0.01)
        return max(self.seen.values())


def bench_latency(work: Path, files: int, debounce_ms: int, gap_s: float) -> None:
    root, land = work / "lat-ledger", work / "lat-land"
    land.mkdir()
    Ledger.open(root).declare_dataset("lat", schema={"id": "int64", "amount": "double"})
    reader = Reader(root, "lat")
    reader.start()
    proc = start(root, land, "lat", debounce_ms)
    time.sleep(2)  # let it start (catch-up of an empty directory)
    completed: dict[str, float] = {}
    for i in range(files):
        path = land / f"date={date(2025, 1, 1) + timedelta(days=i)}" / "part-0.parquet"
        path.parent.mkdir()
        data = parquet_bytes(i)
        with open(path, "wb") as f:  # written in two steps, like a real writer
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(0.05)
            f.write(data[len(data) // 2 :])
        completed[str(path)] = time.time()
        time.sleep(gap_s)
    reader.wait_count(files, timeout=60 + files * debounce_ms / 1000)
    stop(proc)
    reader.done.set()
    delays = sorted(reader.seen[p] - t for p, t in completed.items())
    p50 = statistics.median(delays)
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(f"latency  files={files} debounce={debounce_ms} ms  p50={p50:.3f} s  p95={p95:.3f} s  "
          f"max={delays[-1]:.3f} s  p50 beyond debounce={p50 - debounce_ms / 1000:.3f} s "
          "(target <= 1 s)")


def bench_catch_up(work: Path, partitions: int, debounce_ms: int) -> None:
    root, land = work / "cu-ledger", work / "cu-land"
    land.mkdir()
    variants = [parquet_bytes(i) for i in range(16)]
    t0 = time.perf_counter()
    for i in range(partitions):
        d = land / f"date={date(2000, 1, 1) + timedelta(days=i)}"
        d.mkdir()
        (d / "part-0.parquet").write_bytes(variants[i % len(variants)])
    print(f"catch-up setup: {partitions} partitions written in {time.perf_counter() - t0:.1f} s")
    Ledger.open(root).declare_dataset("cu", schema={"id": "int64", "amount": "double"})
    reader = Reader(root, "cu")
    reader.start()
    started = time.time()
    proc = start(root, land, "cu", debounce_ms)
    last = reader.wait_count(partitions, timeout=600)
    stop(proc)
    reader.done.set()
    print(f"catch-up live   {partitions} partitions: {last - started:.1f} s from start to the last "
          "event readable (target for 10k: <= 30 s)")

    root2 = work / "cu-ledger-once"
    Ledger.open(root2).declare_dataset("cu", schema={"id": "int64", "amount": "double"})
    for label, ledger_root in (("--once (fresh)", root2), ("--once (restart, all known)", root2)):
        t0 = time.perf_counter()
        once = start(ledger_root, land, "cu", debounce_ms, "--once")
        _, err = once.communicate(timeout=600)
        elapsed = time.perf_counter() - t0
        if once.returncode != 0:
            raise SystemExit(err.decode())
        summary = err.decode().strip().splitlines()[-1]
        print(f"catch-up {label}: {elapsed:.1f} s  ({summary})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40, help="files for the latency figure")
    parser.add_argument("--gap-s", type=float, default=0.3, help="time between landed files")
    parser.add_argument("--partitions", type=int, default=10_000,
                        help="partitions for the catch-up")
    parser.add_argument("--debounce-ms", type=int, default=1000)
    parser.add_argument("--skip", choices=["latency", "catch-up"], action="append", default=[])
    args = parser.parse_args()
    print(f"lakeledger watch benchmark on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="ll-watch-bench-") as tmp:
        if "latency" not in args.skip:
            bench_latency(Path(tmp), args.files, args.debounce_ms, args.gap_s)
        if "catch-up" not in args.skip:
            bench_catch_up(Path(tmp), args.partitions, args.debounce_ms)


if __name__ == "__main__":
    main()
