"""The raw Delta table holds every acknowledged event exactly once, whatever reads it.

Issue 11.3: under contention on a loaded machine, a commit that had landed was committed
again ("landed behind a newer checkpoint"), leaving the same batch at two versions: hidden by
``Ledger.events``, seen by polars, DuckDB and Spark. Real processes, real CPU load.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import polars as pl
from lakeledger.store import Ledger, LogSettings

from .workers import append_events, burn_cpu

SPAWN = mp.get_context("spawn")  # deltalake's tokio runtime does not survive fork


def test_loaded_contending_writers_leave_each_batch_once_in_the_raw_table(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    # checkpoints on every other version: a commit is nearly always "behind a newer checkpoint"
    # by the time its writer looks, the situation that used to trigger a second commit
    settings = LogSettings(checkpoint_interval=2, compact_every=1000, keep_log_versions=2,
                           vacuum_every=100_000)
    Ledger.open(root, settings=settings)
    stop = SPAWN.Event()
    hogs = [SPAWN.Process(target=burn_cpu, args=(stop,)) for _ in range(4)]
    for h in hogs:
        h.start()
    try:
        with SPAWN.Pool(8) as pool:
            results = pool.starmap(
                append_events, [(root, {}, w, 150, 3, settings, False) for w in range(8)]
            )
    finally:
        stop.set()
        for h in hogs:
            h.join(30)
    written = [i for ids in results for i in ids]
    raw = pl.scan_delta(os.path.join(root, "events")).collect()  # a foreign reader: no dedupe
    assert raw.height == len(written) == 1200
    assert raw["event_id"].n_unique() == 1200
    assert set(raw["event_id"].to_list()) == set(written)
    per_batch = raw.group_by("batch_id").agg(versions=pl.col("version").n_unique())
    assert per_batch["versions"].max() == 1, "a batch was committed at two versions"


def test_compaction_lands_under_steady_concurrent_appends(tmp_path: Path) -> None:
    """Issue 11.19: with 6 writers appending nonstop, compaction used to lose every race
    (0 compactions over 1,010 versions) and live files grew without bound."""
    root = str(tmp_path / "ledger")
    settings = LogSettings(checkpoint_interval=20, compact_every=20, keep_log_versions=40,
                           vacuum_every=100_000)
    Ledger.open(root, settings=settings)
    with SPAWN.Pool(6) as pool:
        results = pool.starmap(append_events, [(root, {}, w, 100, 1, settings) for w in range(6)])
    written = [i for ids in results for i in ids]
    ledger = Ledger.open(root)
    files = ledger.log.refresh().file_uris()
    assert any("part-compact" in f for f in files), "no compaction landed"
    # 600 single-event commits: without compaction 600 live files; compacted every 20 versions
    assert len(files) <= 120, f"{len(files)} live files"
    # and while the others appended, not only at the end (each worker's close waits for its own
    # maintenance): nothing is vacuumed here, so every compaction that landed left its file
    landed = list(Path(root, "events").glob("part-compact*.parquet"))
    assert len(landed) >= 5, f"only {len(landed)} compactions landed over 600 versions"
    raw = pl.scan_delta(os.path.join(root, "events")).collect()
    assert raw.height == 600 and sorted(raw["event_id"].to_list()) == sorted(written)
