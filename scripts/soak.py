"""Soak: 4 writer processes + compaction + a reader for N seconds, then an exact audit.

  scripts/soak [--seconds 300] [--writers 4] [--root DIR] [--max-live-files 200]

Writers append batches of 1-20 events nonstop (half with the duplicate-id check, half
without) and record every id whose append returned; a compactor process compacts every
0.5 s on top of the automatic cadence; a reader counts events and fails on any duplicate it
sees. At the end the raw Delta table is counted with polars AND DuckDB (if installed): every
acknowledged id exactly once, nothing else, live files bounded. Exit 0 when all hold, else 1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from lakeledger.store import Ledger, LogSettings
from lakeledger.store import events as ev

SETTINGS = LogSettings(checkpoint_interval=20, compact_every=20, keep_log_versions=40, vacuum_every=500)
SPAWN = mp.get_context("spawn")  # deltalake's tokio runtime does not survive fork


def writer(root: str, worker: int, ack: str, stop: object, check_ids: bool) -> None:
    ledger = Ledger.open(root, settings=SETTINGS)
    rng = random.Random(worker)
    with open(ack, "a", buffering=1) as out:
        n = 0
        while not stop.is_set():  # type: ignore[attr-defined]
            batch = [ev.ValidationRecorded(target=f"w{worker}", check=f"c{n + i}", passed=True)
                     for i in range(rng.randint(1, 20))]
            ledger.append(batch, check_ids=check_ids)
            out.write("".join(e.event_id + "\n" for e in batch))
            n += len(batch)


def compactor(root: str, stop: object, result: object) -> None:
    from lakeledger.store import maintenance

    ledger = Ledger.open(root, settings=SETTINGS)
    landed = 0
    while not stop.is_set():  # type: ignore[attr-defined]
        if maintenance.compact(ledger.log):
            landed += 1
        time.sleep(0.5)
    result.value = landed  # type: ignore[attr-defined]


def reader(root: str, stop: object, result: object) -> None:
    reads = errors = 0
    last = 0
    while not stop.is_set():  # type: ignore[attr-defined]
        frame = Ledger.open(root, create=False).log.scan(dedupe=False).select("event_id").collect()
        if frame.height != frame["event_id"].n_unique() or frame.height < last:
            errors += 1
        last = frame.height
        reads += 1
    result.value = reads * 1000 + min(errors, 999)  # type: ignore[attr-defined]


def duckdb_counts(uri: str) -> tuple[int, int] | None:
    try:
        import duckdb
        import duckdb_extension_delta
    except ImportError:
        return None
    ext = next(Path(duckdb_extension_delta.__file__).parent.rglob("delta.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    row = con.execute(f"SELECT count(*), count(DISTINCT event_id) FROM delta_scan('{uri}')").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--root")
    parser.add_argument("--max-live-files", type=int, default=200)
    args = parser.parse_args()
    work = Path(args.root or tempfile.mkdtemp(prefix="lakeledger-soak-"))
    root = str(work / "ledger")
    shutil.rmtree(root, ignore_errors=True)
    Ledger.open(root, settings=SETTINGS)
    stop = SPAWN.Event()
    compactions, reads = SPAWN.Value("q", 0), SPAWN.Value("q", 0)
    acks = [str(work / f"ack-{w}.txt") for w in range(args.writers)]
    procs = [SPAWN.Process(target=writer, args=(root, w, acks[w], stop, w % 2 == 0))
             for w in range(args.writers)]
    procs += [SPAWN.Process(target=compactor, args=(root, stop, compactions)),
              SPAWN.Process(target=reader, args=(root, stop, reads))]
    started = time.monotonic()
    for p in procs:
        p.start()
    time.sleep(args.seconds)
    stop.set()
    for p in procs:
        p.join(300)
    elapsed = time.monotonic() - started
    crashed = [p.exitcode for p in procs if p.exitcode != 0]

    acked: list[str] = []
    for a in acks:
        acked += Path(a).read_text().split()
    uri = os.path.join(root, "events")
    raw = pl.scan_delta(uri).select("event_id").collect()["event_id"]
    present = set(raw.to_list())
    ledger = Ledger.open(root, settings=SETTINGS)
    report = {
        "seconds": round(elapsed, 1),
        "acknowledged": len(acked),
        "polars_rows": raw.len(),
        "polars_distinct": raw.n_unique(),
        "lost": len(set(acked) - present),
        "unacknowledged_extra": len(present - set(acked)),
        "duplicated": raw.len() - raw.n_unique(),
        "versions": ledger.version,
        "live_files": len(ledger.log.refresh().file_uris()),
        "compactions_by_compactor": compactions.value,
        "reader_reads": reads.value // 1000,
        "reader_errors": reads.value % 1000,
        "crashed_processes": len(crashed),
    }
    duck = duckdb_counts(uri)
    if duck is not None:
        report["duckdb_rows"], report["duckdb_distinct"] = duck
    ok = (
        report["lost"] == 0 and report["duplicated"] == 0 and report["unacknowledged_extra"] == 0
        and report["reader_errors"] == 0 and not crashed and len(acked) == len(set(acked))
        and report["live_files"] <= args.max_live_files
        and (duck is None or duck == (len(acked), len(acked)))
    )
    print(json.dumps(report, indent=2))
    print("soak OK" if ok else "soak FAILED")
    if not args.root:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
