"""The one door to Delta: tables lakeledger commits stay standard Delta tables, durable and ours.

Conformance: what the lean local commit path writes (our own ``_delta_log/<v>.json``,
checkpoints by delta-rs, compaction) is read identically by delta-rs, polars and DuckDB's
delta extension, including time travel within the kept log. Damage and foreign tables are
refused with the fix.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from lakeledger.store import Ledger, LogSettings
from lakeledger.store import events as ev
from lakeledger.store.delta import DamagedLog, ForeignTable, StorageConfigError

SETTINGS = LogSettings(checkpoint_interval=5, compact_every=4, keep_log_versions=5, vacuum_every=1000)


def _duckdb():  # type: ignore[no-untyped-def]
    duckdb = pytest.importorskip("duckdb")
    ext = pytest.importorskip("duckdb_extension_delta")
    path = next(pathlib.Path(ext.__file__).parent.rglob("delta.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    return con


def _fill(root: Path, n: int, settings: LogSettings = SETTINGS) -> list[str]:
    ledger = Ledger.open(root, settings=settings)
    ids = []
    for i in range(n):
        e = ev.ValidationRecorded(target="t", check=f"c{i}", passed=True)
        ledger.append([e])
        ids.append(e.event_id)
    ledger.close()  # maintenance runs after the appends returned: close waits for it
    return ids


def test_every_reader_sees_exactly_the_committed_events(tmp_path: Path) -> None:
    ids = _fill(tmp_path / "l", 23)  # crosses checkpoints, compactions and log cleanup
    uri = str(tmp_path / "l" / "events")
    log_dir = os.listdir(os.path.join(uri, "_delta_log"))
    assert any(".checkpoint." in f for f in log_dir)
    ours = Ledger.open(tmp_path / "l")
    via_polars = pl.scan_delta(uri).collect()
    via_duckdb = _duckdb().execute(f"SELECT event_id, version FROM delta_scan('{uri}')").pl()
    for frame in (ours.events().collect(), via_polars, via_duckdb):
        assert sorted(frame["event_id"].to_list()) == sorted(ids)
    # a fresh delta-rs reader, loading from the checkpoints our maintenance wrote
    table = DeltaTable(uri)
    assert table.version() == ours.version
    assert sorted(table.to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist()) == sorted(ids)


def test_time_travel_by_other_readers_works_within_the_kept_log(tmp_path: Path) -> None:
    settings = LogSettings(checkpoint_interval=5, compact_every=1000, keep_log_versions=10,
                           vacuum_every=1000)
    _fill(tmp_path / "l", 40, settings)
    uri = str(tmp_path / "l" / "events")
    con = _duckdb()
    latest = Ledger.open(tmp_path / "l").version
    for v in (latest - settings.keep_log_versions, latest - 3, latest):
        rows = con.execute(f"SELECT count(*) FROM delta_scan('{uri}', version => {v})").fetchone()
        assert rows is not None and rows[0] == v  # one event per version here
        assert pl.scan_delta(uri, version=v).collect().height == v


def test_log_kept_by_time_as_well_as_count(tmp_path: Path) -> None:
    settings = LogSettings(checkpoint_interval=5, compact_every=1000, keep_log_versions=5,
                           keep_log_hours=1.0, vacuum_every=1000)
    _fill(tmp_path / "l", 30, settings)
    uri = str(tmp_path / "l" / "events")
    con = _duckdb()
    rows = con.execute(f"SELECT count(*) FROM delta_scan('{uri}', version => 1)").fetchone()
    assert rows is not None and rows[0] == 1  # within the hour: nothing deleted


def test_an_empty_latest_commit_file_is_reported_with_the_fix_never_skipped(tmp_path: Path) -> None:
    _fill(tmp_path / "l", 3, LogSettings(compact_every=1000))
    damaged = tmp_path / "l" / "events" / "_delta_log" / f"{3:020d}.json"
    damaged.write_bytes(b"")  # what a crash before the data reached the disk leaves
    with pytest.raises(DamagedLog) as err:
        Ledger.open(tmp_path / "l", create=False).events().collect()
    assert "commit 3" in str(err.value) and "mv " in str(err.value)
    with pytest.raises(DamagedLog):  # no writer reuses the version
        Ledger.open(tmp_path / "l").append([ev.ValidationRecorded(target="t", check="y", passed=True)])
    assert not (tmp_path / "l" / "events" / "_delta_log" / f"{4:020d}.json").exists()
    # applying the fix the message gives makes the ledger usable again
    damaged.rename(damaged.with_name(damaged.name + ".damaged"))
    ledger = Ledger.open(tmp_path / "l")
    assert ledger.append([ev.ValidationRecorded(target="t", check="x", passed=True)]).version == 3


def test_an_empty_commit_file_under_a_running_writer_stops_it(tmp_path: Path) -> None:
    settings = LogSettings(compact_every=1000)  # no checkpoint covers version 4 yet
    ledger = Ledger.open(tmp_path / "l", settings=settings)
    for i in range(3):
        ledger.append([ev.ValidationRecorded(target="t", check=f"c{i}", passed=True)])
    other = Ledger.open(tmp_path / "l", settings=settings)
    other.append([ev.ValidationRecorded(target="t", check="o", passed=True)])  # version 4
    (tmp_path / "l" / "events" / "_delta_log" / f"{4:020d}.json").write_bytes(b"")
    with pytest.raises(DamagedLog):
        ledger.events().collect()


def test_a_foreign_delta_table_at_events_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "someone"
    pl.DataFrame({"a": [1, 2]}).write_delta(str(root / "events"))
    with pytest.raises(ForeignTable) as err:
        Ledger.open(root)
    assert "not a lakeledger" in str(err.value)
    before = sorted(os.listdir(root / "events" / "_delta_log"))
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("lakeledger")), "--root", str(root), "append"],
        input='{"kind":"experiment.created","experiment":"x"}\n',
        capture_output=True, text=True, check=False,
    )
    assert cli.returncode == 2, cli.stderr
    assert "Traceback" not in cli.stderr and "not a lakeledger" in cli.stderr
    assert sorted(os.listdir(root / "events" / "_delta_log")) == before


@pytest.fixture
def strict_s3() -> Iterator[str]:
    """A moto_server that checks credentials: every request with an unknown key is refused."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not os.path.exists(exe):
        pytest.skip("moto_server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.s3
def test_bad_credentials_are_a_named_configuration_error_never_retried(strict_s3: str) -> None:
    options = {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN", "AWS_SECRET_ACCESS_KEY": "wrong-secret-value",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_ENDPOINT_URL": strict_s3}
    with pytest.raises(StorageConfigError) as err:
        Ledger.open("s3://bucket/ledger", options)
    text = str(err.value)
    assert "InvalidAccessKeyId" in text and "credentials" in text
    assert "wrong-secret-value" not in text
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAUNKNOWN"}
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("lakeledger")), "--root", "s3://bucket/ledger",
         "--storage-option", "AWS_SECRET_ACCESS_KEY=wrong-secret-value",
         "--storage-option", f"AWS_ENDPOINT_URL={strict_s3}", "--storage-option", "AWS_ALLOW_HTTP=true",
         "--storage-option", "AWS_REGION=us-east-1", "append"],
        input='{"kind":"experiment.created","experiment":"x"}\n',
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )
    assert cli.returncode == 2, cli.stderr
    assert "credentials" in cli.stderr and "Traceback" not in cli.stderr
    assert "attempts lost" not in cli.stderr and "wrong-secret-value" not in cli.stderr
