"""Real OS processes appending at once: nothing lost, nothing twice, invariants kept."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.store import Ledger, LogSettings

from .workers import append_events, register_versions

SPAWN = mp.get_context("spawn")  # deltalake's tokio runtime does not survive fork


def _run_all(target: object, argsets: list[tuple[object, ...]]) -> list[object]:
    with SPAWN.Pool(len(argsets)) as pool:
        return pool.starmap(target, argsets)  # type: ignore[arg-type]


def test_eight_processes_append_500_events_each(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    settings = LogSettings(checkpoint_interval=10, compact_every=8, keep_log_versions=10, vacuum_every=30)
    Ledger.open(root, settings=settings)
    results = _run_all(append_events, [(root, {}, w, 500, 25, settings) for w in range(8)])
    written = [i for ids in results for i in ids]  # type: ignore[union-attr]
    rows = Ledger.open(root).log.scan(dedupe=False).collect()
    assert rows.height == 4000
    assert rows["event_id"].n_unique() == 4000
    assert set(rows["event_id"].to_list()) == set(written)
    # every commit is one writer's batch at its own exact version
    per_version = rows.group_by("version").agg(batches=pl.col("batch_id").n_unique())
    assert per_version["batches"].max() == 1
    assert rows["version"].n_unique() == 8 * 500 // 25


def test_four_processes_register_versions_of_one_model(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    Ledger.open(root)
    results = _run_all(register_versions, [(root, {}, "fraud", 10) for _ in range(4)])
    assigned = sorted(v for vs in results for v in vs)  # type: ignore[union-attr]
    assert assigned == list(range(1, 41))
    logged = sorted(e.version for e in Ledger.open(root).read(kind="model.version_registered"))  # type: ignore[attr-defined]
    assert logged == list(range(1, 41))


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 15)), min_size=2, max_size=3))
def test_property_no_event_lost_or_duplicated(tmp_path_factory: pytest.TempPathFactory,
                                              plan: list[tuple[int, int]]) -> None:
    """For any mix of writers, sizes and batch sizes: the log holds exactly what was acked."""
    root = str(tmp_path_factory.mktemp("prop") / "ledger")
    settings = LogSettings(checkpoint_interval=3, compact_every=2, keep_log_versions=3, vacuum_every=5)
    Ledger.open(root, settings=settings)
    results = _run_all(append_events, [(root, {}, w, n, b, settings) for w, (n, b) in enumerate(plan)])
    acked = [i for ids in results for i in ids]  # type: ignore[union-attr]
    rows = Ledger.open(root).log.scan(dedupe=False).collect()
    assert sorted(rows["event_id"].to_list()) == sorted(acked)
