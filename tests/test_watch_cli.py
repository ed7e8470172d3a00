"""The real ``lakeledger watch`` process against a real landing directory and ledger.

Every step asserts exact event counts, read back from the ledger. A "nothing happened" claim is
made only after a later file (a sentinel, landed after the one under test) was registered: the
watcher handles pending files oldest first, so the earlier one has been judged by then.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pyarrow as pa
import pytest
from lakeledger.projections.engine import materialise
from lakeledger.store import Ledger

from .watch_fixtures import (
    LedgerProbe,
    WatchProcess,
    declare,
    kill_tree,
    parquet_bytes,
    sales,
    sha,
    wait_until,
    write_parquet,
)

SCHEMA = {"id": "int64", "amount": "double"}


@pytest.fixture
def land(tmp_path: Path) -> Path:
    path = tmp_path / "land"
    path.mkdir()
    return path


def test_steps_half_written_corrupt_schema_restart_deletion(tmp_path: Path, land: Path) -> None:
    root = tmp_path / "ledger"
    declare(root, "sales", SCHEMA)
    probe = LedgerProbe(root, "sales")
    day = lambda d: land / f"date=2025-03-{d:02d}" / "part-0.parquet"  # noqa: E731

    w = WatchProcess(root, land, "sales", logs=tmp_path)
    try:
        # 1. files landing in several steps
        first = {d: write_parquet(day(d), sales(3, seed=d)) for d in (1, 2, 3)}
        probe.wait_for(observed=3, proc=w)
        row = probe.latest(str(day(1)))
        assert (row["partition"], row["rows"], row["bytes"]) == ("2025-03-01", 3, len(first[1]))
        assert row["checksum"] == sha(first[1]) and row["schema_hash"]

        # 2. a half-written file is not registered while it is unfinished
        full = parquet_bytes(sales(50, seed=4))
        day(4).parent.mkdir()
        with open(day(4), "wb") as half:
            half.write(full[: len(full) // 2])
            half.flush()
            write_parquet(day(5), sales(2, seed=5))  # sentinel, landed after the half file
            probe.wait_for(observed=4, proc=w)
            assert str(day(4)) not in probe.observed_uris()
            half.write(full[len(full) // 2 :])
        probe.wait_for(observed=5, proc=w)
        assert probe.latest(str(day(4)))["rows"] == 50
        # written under a temporary name, then renamed: registered once, under the final name
        tmp = day(6).with_name("part-0.parquet.tmp")
        write_parquet(tmp, sales(4, seed=6))
        tmp.rename(day(6))
        probe.wait_for(observed=6, proc=w)

        # 3. a corrupt file: one validation error, the watcher keeps going
        day(7).parent.mkdir()
        day(7).write_bytes(b"this is not parquet at all")
        probe.wait_for(observed=6, problems=1, proc=w)
        write_parquet(day(8), sales(1, seed=8))
        probe.wait_for(observed=7, problems=1, proc=w)
        (bad,) = probe.rows("validation.recorded")
        assert (bad["check"], bad["severity"], bad["passed"]) == ("readable", "error", False)
        assert bad["details"]["uri"] == str(day(7))

        # 4. a schema change: registered, and a schema error naming the column
        write_parquet(day(9), sales(2, seed=9, amount_type=pa.string()))
        probe.wait_for(observed=8, problems=2, proc=w)
        schema_err = probe.rows("validation.recorded")[-1]
        assert schema_err["check"] == "schema"
        retyped = {"amount": {"expected": "float64", "observed": "string"}}
        assert schema_err["details"]["retyped"] == retyped
        assert "watching" in w.err
        assert w.stop(signal.SIGTERM) == 0
        assert "watch stopped: 8 observed" in w.err
    finally:
        kill_tree(w)

    # 5. while down: two new files, one rewritten, one deleted
    write_parquet(day(10), sales(3, seed=10))
    write_parquet(day(11), sales(3, seed=11))
    changed = write_parquet(day(1), sales(7, seed=100))
    day(2).unlink()
    w = WatchProcess(root, land, "sales", logs=tmp_path)
    try:
        probe.wait_for(observed=11, removed=1, problems=2, proc=w)
        assert probe.latest(str(day(1)))["checksum"] == sha(changed)
        assert probe.latest(str(day(1)))["rows"] == 7
        assert probe.rows("partition.removed")[0]["uri"] == str(day(2))
        assert probe.rows("partition.removed")[0]["partition"] == "2025-03-02"
        write_parquet(day(12), sales(1, seed=12))  # sentinel: nothing else was registered
        probe.wait_for(observed=12, removed=1, problems=2, proc=w)

        # 6. deletions while running: one file, then a whole directory
        day(3).unlink()
        probe.wait_for(observed=12, removed=2, problems=2, proc=w)
        shutil.rmtree(day(4).parent)
        probe.wait_for(observed=12, removed=3, problems=2, proc=w)
        assert w.stop(signal.SIGINT) == 0
    finally:
        kill_tree(w)

    # 7. a third start finds nothing new
    again = WatchProcess(root, land, "sales", "--once", logs=tmp_path)
    assert again.wait() == 0, again.err
    assert "0 observed, 0 removed, 0 problems reported, 8 already registered" in again.err
    probe.wait_for(observed=12, removed=3, problems=2)
    uris = probe.observed_uris()
    assert len(uris) == len(set(uris)) + 1  # only day 1 twice: its content changed


def test_csv_and_delta_tables_with_dates_in_names(tmp_path: Path, land: Path) -> None:
    from deltalake import write_deltalake

    root = tmp_path / "ledger"
    declare(root, "orders", SCHEMA)
    probe = LedgerProbe(root, "orders")
    w = WatchProcess(root, land, "orders", "--layout", "date-name", logs=tmp_path)
    try:
        csv = land / "orders_2025-03-01.csv"
        csv.write_text('id,amount\n1,2.5\n2,"3.5"\n3,4.0\n')
        table = land / "orders_20250302"
        write_deltalake(str(table), sales(5))
        probe.wait_for(observed=2, proc=w)
        rows = {r["partition"]: r for r in probe.rows("partition.observed")}
        assert rows["2025-03-01"]["rows"] == 3 and rows["2025-03-01"]["uri"] == str(csv)
        assert rows["2025-03-02"]["rows"] == 5 and rows["2025-03-02"]["uri"] == str(table)
        write_deltalake(str(table), sales(2, seed=5), mode="append")  # a new table version
        probe.wait_for(observed=3, proc=w)
        assert probe.latest(str(table))["rows"] == 7
        (land / "notes_without_date.csv").write_text("id,amount\n1,1.0\n")
        probe.wait_for(observed=3, problems=1, proc=w)
        warn = probe.rows("validation.recorded")[0]
        assert (warn["check"], warn["severity"]) == ("partition_value", "warning")
        shutil.rmtree(table)
        probe.wait_for(observed=3, removed=1, problems=1, proc=w)
        assert w.stop() == 0
    finally:
        kill_tree(w)


def test_marker_completes_a_directory(tmp_path: Path, land: Path) -> None:
    root = tmp_path / "ledger"
    declare(root, "events", None)
    probe = LedgerProbe(root, "events")
    w = WatchProcess(root, land, "events", "--marker", "_SUCCESS", logs=tmp_path)
    try:
        job = land / "job-a"
        for i in range(3):
            write_parquet(job / "date=2025-03-01" / f"part-{i}.parquet", sales(2, seed=i))
        write_parquet(job / "_temporary" / "0" / "part-9.parquet", sales(1))  # never data
        sentinel = land / "job-b"
        write_parquet(sentinel / "date=2025-02-28" / "part-0.parquet", sales(1))
        (sentinel / "_SUCCESS").touch()
        probe.wait_for(observed=1, proc=w)  # job-a has no marker yet: none of its files count
        (job / "_SUCCESS").touch()
        probe.wait_for(observed=4, proc=w)
        parts = sorted(r["partition"] for r in probe.rows("partition.observed"))
        assert parts == ["2025-02-28", "2025-03-01", "2025-03-01", "2025-03-01"]
        assert w.stop() == 0
    finally:
        kill_tree(w)


def test_two_watchers_write_to_one_ledger(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    declare(root, "a", SCHEMA)
    declare(root, "b", SCHEMA)
    dirs = {name: tmp_path / f"land-{name}" for name in "ab"}
    for d in dirs.values():
        d.mkdir()
    procs = [WatchProcess(root, dirs[name], name, logs=tmp_path) for name in "ab"]
    try:
        for i in range(15):
            for name in "ab":
                write_parquet(dirs[name] / f"{name}_2025-01-{i + 1:02d}.parquet", sales(1, seed=i))
        for name, proc in zip("ab", procs, strict=True):
            LedgerProbe(root, name).wait_for(observed=15, proc=proc)
        for proc in procs:
            assert proc.stop() == 0
    finally:
        for proc in procs:
            kill_tree(proc)
    for name in "ab":
        uris = LedgerProbe(root, name).observed_uris()
        assert len(set(uris)) == 15 and all(u.startswith(str(dirs[name])) for u in uris)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stop_or_crash_during_catch_up_then_resume(tmp_path: Path, land: Path, sig: int) -> None:
    """Stopped (or killed) half-way through a catch-up, a restart registers each file once."""
    root = tmp_path / "ledger"
    declare(root, "bulk", {"id": "int64", "amount": "double"})
    n = 1500
    for i in range(n):
        sub = land / f"batch={i // 100}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i}.csv").write_text(f"id,amount\n{i},1.5\n")
    w = WatchProcess(root, land, "bulk", "--batch-size", "50", logs=tmp_path)
    probe = LedgerProbe(root, "bulk")
    try:
        wait_until(lambda: probe.counts().observed > 0 or not w.alive(), what="first commit")
        code = w.stop(sig)
    finally:
        kill_tree(w)
    stopped_at = probe.counts().observed
    assert 0 < stopped_at <= n
    if sig == signal.SIGTERM:
        # a clean stop: what it decided is all in the ledger, nothing after it
        assert code == 0, w.err
        assert f"watch stopped: {stopped_at} observed" in w.err
    else:
        assert code == -signal.SIGKILL
    again = WatchProcess(root, land, "bulk", "--once", logs=tmp_path)
    assert again.wait() == 0, again.err
    assert f"{n - stopped_at} observed" in again.err
    assert f"{stopped_at} already registered" in again.err
    probe.wait_for(observed=n)
    assert len(set(probe.observed_uris())) == n


def test_bad_usage_exits_2_and_refresh_views_refreshes(tmp_path: Path, land: Path, cli) -> None:
    root = str(tmp_path / "ledger")
    res = cli("--root", root, "watch", str(tmp_path / "nope"), "--dataset", "x")
    assert res.code == 2 and "is not a directory" in res.err
    res = cli("--root", root, "watch", str(land), "--dataset", "a/b")
    assert res.code == 2 and "--dataset" in res.err
    res = cli("--root", root, "watch", str(land), "--dataset", "x", "--layout", "flat")
    assert res.code == 2 and "invalid choice" in res.err
    write_parquet(land / "x_2025-01-01.parquet", sales(1))
    res = cli("--root", root, "watch", str(land), "--dataset", "x", "--json")
    assert res.code == 2 and "--once" in res.err and "--jsonl" in res.err  # would never end
    res = cli("--root", root, "watch", str(land), "--dataset", "x", "--once", "--refresh-views",
              "--debounce-ms", "0", "--jsonl")
    assert res.code == 0, res.err
    assert "not declared" in res.err
    lines = [json.loads(line) for line in res.out.splitlines()]  # JSON Lines: one event a line
    assert [(e["kind"], e["partition"]) for e in lines] == [("partition.observed", "2025-01-01")]
    # --refresh-views: the materialised views now reflect the watcher's commit
    ledger = Ledger.open(root, create=False)
    _, through, _ = materialise.load(ledger, "coverage")
    assert through == ledger.version
    # --json with --once: one JSON array of what this catch-up recorded, printed at the end
    write_parquet(land / "x_2025-01-02.parquet", sales(1))
    res = cli("--root", root, "watch", str(land), "--dataset", "x", "--once", "--debounce-ms", "0",
              "--json")
    assert res.code == 0, res.err
    assert [(e["kind"], e["partition"]) for e in json.loads(res.out)] == [
        ("partition.observed", "2025-01-02")
    ]


def test_unfinished_file_is_reported_after_grace_then_registered_when_done(
    tmp_path: Path, land: Path
) -> None:
    root = tmp_path / "ledger"
    declare(root, "slow", SCHEMA)
    probe = LedgerProbe(root, "slow")
    w = WatchProcess(root, land, "slow", "--grace-s", "1", logs=tmp_path)
    try:
        path = land / "slow_2025-04-01.parquet"
        full = parquet_bytes(sales(20))
        with open(path, "wb") as f:
            f.write(full[:100])
            f.flush()
            probe.wait_for(observed=0, problems=1, proc=w)
            (problem,) = probe.rows("validation.recorded")
            assert "no footer" in problem["details"]["reason"]
            assert "unchanged for 1s" in problem["details"]["reason"]
            assert problem["details"]["checksum"] == sha(full[:100])
            f.write(full[100:])
        probe.wait_for(observed=1, problems=1, proc=w)
        assert probe.latest(str(path))["rows"] == 20
        assert w.stop() == 0
    finally:
        kill_tree(w)
