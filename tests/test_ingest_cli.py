"""The real ``lakeledger ingest`` executable: run, status, exit codes, and crash recovery
(SIGKILL between the bronze commit and its checkpoint event, then run again)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from lakeledger.ingest.extract.runner import PAUSE_ENV, PAUSE_FILE_ENV

from .ingest_fixtures import write_config

SCHEMA = {"id": "int", "amount": "float"}


def setup_csv(tmp_path: Path, batch_rows: int = 4) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    # 3 files x 6 rows; every third row is bad; batches of 4 rows split files in two batches
    for f in range(3):
        lines = [f"{f * 100 + i},{'x' if i % 3 == 2 else i}" for i in range(6)]
        (data / f"part-{f}.csv").write_text("id,amount\n" + "\n".join(lines) + "\n")
    source = {
        "name": "orders",
        "kind": "csv",
        "options": {"path": "data/*.csv"},
        "schema": SCHEMA,
        "batch_rows": batch_rows,
    }
    return write_config(tmp_path / "sources.toml", [source])


def test_run_and_status(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    config = setup_csv(tmp_path)
    root = str(tmp_path / "ledger")
    result = cli("--root", root, "ingest", "run", str(config), "--json")
    assert result.code == 0, result.err
    [summary] = json.loads(result.out)
    assert (summary["read"], summary["written"], summary["quarantined"]) == (18, 12, 6)
    assert "orders: [####################] 100%  batch 6" in result.err  # progress on stderr

    status = cli("--root", root, "ingest", "status", "--json")
    assert status.code == 0, status.err
    [row] = json.loads(status.out)
    assert (row["source"], row["batch"], row["status"], row["written"], row["quarantined"]) == (
        "orders",
        6,
        "success",
        12,
        6,
    )
    table = cli("--root", root, "ingest", "status")
    assert table.out.splitlines()[0].startswith("SOURCE") and "orders" in table.out

    bad = json.loads(cli("--root", root, "ingest", "quarantine", "--json").out)
    assert len(bad) == 6 and {b["reason"] for b in bad} == {"amount: expected float, got 'x'"}
    assert bad[0]["origin"].endswith("part-0.csv") and bad[0]["row"] == 3
    newest = cli("--root", root, "ingest", "quarantine", "--limit", "2").out.splitlines()
    assert len(newest) == 3 and newest[0].startswith("QUARANTINED_AT")
    assert '{"id":"205","amount":"x"}' in newest[2]

    again = cli("--root", root, "ingest", "run", str(config), "--no-progress")
    assert again.code == 0 and again.err == ""
    assert "orders" in again.out


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = write_config(tmp_path / "s.toml", [{"name": "x", "kind": "csv", "options": {}, "schema": SCHEMA}])
    root = tmp_path / "ledger"
    result = cli("--root", str(root), "ingest", "run", str(path))
    assert result.code == 2
    assert "`sources[0].options`: Object missing required field `path`" in result.err
    assert not root.exists()
    unknown = cli("--root", str(root), "ingest", "run", str(path), "--source", "nope")
    assert unknown.code == 2 and "no source named nope" in unknown.err


def test_failed_source_exits_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        tmp_path / "s.toml",
        [{"name": "x", "kind": "csv", "schema": SCHEMA, "options": {"path": "missing.csv"}}],
    )
    result = cli("--root", str(tmp_path / "ledger"), "ingest", "run", str(path))
    assert result.code == 1 and "missing.csv does not exist" in result.err


@pytest.mark.parametrize("point", ["after-quarantine", "after-bronze", "after-checkpoint"])
def test_sigkill_then_rerun_gives_exact_rows(tmp_path: Path, cli, point: str) -> None:  # type: ignore[no-untyped-def]
    config = setup_csv(tmp_path)
    root = str(tmp_path / "ledger")
    marker = tmp_path / "paused"
    exe = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))
    env = {**os.environ, PAUSE_ENV: f"{point}:3", PAUSE_FILE_ENV: str(marker)}
    proc = subprocess.Popen(
        [exe, "--root", root, "ingest", "run", str(config), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the ingest process ended before reaching the pause point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert int(marker.read_text()) == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL

    result = cli("--root", root, "ingest", "run", str(config), "--json", "--no-progress")
    assert result.code == 0, result.err
    bronze = pl.scan_delta(f"{root}/bronze/orders").collect()
    expected = sorted(f * 100 + i for f in range(3) for i in range(6) if i % 3 != 2)
    assert sorted(bronze["id"]) == expected  # no duplicate, no gap
    quarantined = pl.scan_delta(f"{root}/quarantine").collect()
    assert quarantined.height == 6 and quarantined["raw"].n_unique() == 6
    status = json.loads(cli("--root", root, "ingest", "status", "--json").out)[0]
    assert status["batch"] == 6
    [resumed] = json.loads(result.out)
    assert resumed["repaired"] == (point == "after-bronze")
    # the killed run stays visible as started-but-never-finished
    assert status["status"] == "success" and status["runs"] == 2


def test_two_processes_ingesting_one_source_never_duplicate(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A pauses before its first bronze commit; B ingests everything; A resumes and must not
    commit its stale batch: it fails with a concurrency error and bronze stays exact."""
    config = setup_csv(tmp_path)
    root = str(tmp_path / "ledger")
    marker = tmp_path / "paused"
    exe = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))
    env = {**os.environ, PAUSE_ENV: "after-quarantine:1", PAUSE_FILE_ENV: str(marker)}
    first = subprocess.Popen(
        [exe, "--root", root, "ingest", "run", str(config), "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = cli("--root", root, "ingest", "run", str(config), "--no-progress")
    assert second.code == 0, second.err
    marker.unlink()  # let the first one go on
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 1
    assert "already holds batch 1: another `ingest run` of source 'orders'" in err
    bronze = pl.scan_delta(f"{root}/bronze/orders").collect()
    assert bronze.height == 12 and bronze["id"].n_unique() == 12
