"""``lakeledger doctor``: a healthy ledger exits 0; each kind of damage exits 1 naming its fix.

The damage is real: a data file deleted from disk, a row copied into the table with deltalake's
own writer (as a foreign tool would), a view table overwritten by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from lakeledger import Ledger


def _populate(root: Path) -> Ledger:
    ledger = Ledger.open(root)
    with ledger.run("train", params={"lr": 0.1}) as run:
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    ledger.register_model_version("fraud", run_id=run.run_id)
    ledger.set_stage("fraud", 1, "production")
    for name in ("runs", "models"):
        ledger.view(name)  # materialised, so doctor compares them with a rebuild
    return ledger


def _doctor(cli: Any, root: Path) -> tuple[int, dict[str, Any], str]:
    text = cli("--root", str(root), "doctor")
    as_json = cli("--root", str(root), "doctor", "--json")
    assert text.code == as_json.code, (text, as_json)
    assert "Traceback" not in text.err + as_json.err
    return as_json.code, json.loads(as_json.out), text.out


def _bad(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in report["findings"] if not f["ok"]}


def test_a_healthy_ledger_exits_0(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "l"
    _populate(root)
    code, report, text = _doctor(cli, root)
    assert code == 0, text
    assert report["ok"] is True and _bad(report) == {}
    checks = {f["check"] for f in report["findings"]}
    assert {"log readable", "data files", "event ids", "schema versions", "view runs"} <= checks
    figures = report["figures"]
    assert figures["live_files"] >= 1 and figures["events"] == 7
    assert figures["snapshot_load_ms"] >= 0 and figures["commit_ms_p50"] >= 0
    assert "healthy" in text


def test_a_deleted_data_file_exits_1_with_the_fix(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "l"
    _populate(root)
    victim = sorted((root / "events").glob("*.parquet"))[0]
    victim.unlink()
    code, report, text = _doctor(cli, root)
    assert code == 1
    bad = _bad(report)["data files"]
    assert victim.name in bad["detail"] and "missing" in bad["detail"]
    assert "restore" in bad["fix"] and "repair()" in bad["fix"]
    assert "fix: restore" in text and victim.name in text
    assert not any(f["check"].startswith("view ") for f in report["findings"])  # not repeated


def test_an_empty_newest_commit_file_exits_1_with_the_fix(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "l"
    _populate(root)
    newest = sorted((root / "events" / "_delta_log").glob("*.json"))[-1]
    newest.write_bytes(b"")  # a crash before the commit file reached the disk
    code, report, _ = _doctor(cli, root)
    assert code == 1
    bad = _bad(report)["log readable"]
    assert newest.name in bad["detail"] and "empty" in bad["detail"]
    assert "moved aside" in bad["fix"]


def test_a_duplicated_raw_row_exits_1_with_the_fix(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "l"
    ledger = _populate(root)
    uri = str(root / "events")
    row = pl.read_delta(uri).filter(pl.col("kind") == "run.started")
    write_deltalake(uri, row.to_arrow(), mode="append")  # a foreign writer repeats an event
    assert DeltaTable(uri).version() > ledger.version - 1
    code, report, text = _doctor(cli, root)
    assert code == 1
    bad = _bad(report)["event ids"]
    assert row["event_id"][0] in bad["detail"] and "2 times" in bad["detail"]
    assert "lakeledger events --json" in bad["fix"]
    assert "fix:" in text


def test_a_view_that_differs_from_a_rebuild_exits_1_with_the_fix(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "l"
    _populate(root)
    uri = str(root / "views" / "models")
    stored = pl.read_delta(uri)
    tampered = stored.with_columns(
        pl.when(pl.col("_part") != "_marker").then(pl.lit("archived")).otherwise(pl.col("stage")).alias("stage")
    ) if "stage" in stored.columns else pytest.fail(f"no stage column in {stored.columns}")
    write_deltalake(uri, tampered.to_arrow(), mode="overwrite")
    code, report, _ = _doctor(cli, root)
    assert code == 1
    bad = _bad(report)["view models"]
    assert "differs from a full rebuild" in bad["detail"]
    assert bad["fix"] == "rebuild it: lakeledger rebuild --full models"
    cli("--root", str(root), "rebuild", "--full", "models")
    assert _doctor(cli, root)[0] == 0
