"""`lakeledger profile` and `lakeledger validate`, run as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from lakeledger.store import Ledger


def test_profile_then_validate(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "sales.parquet"
    pl.DataFrame({"id": [1, 2, None], "region": ["n", "s", "s"]}).write_parquet(data)
    meta = tmp_path / "_meta"
    res = cli("profile", str(data), "--out", str(meta), "--json")
    assert res.code == 0, res.err
    stats = json.loads(res.out)
    assert stats["rows"] == 3 and stats["columns"]["id"]["nulls"] == 1
    assert stats["columns"]["region"]["distinct"] == 2
    schema = meta / "sales.schema.json"
    assert schema.exists() and (meta / "sales.stats.json").exists()

    ok = cli("validate", str(data), "--schema", str(schema))
    assert (ok.code, ok.out.splitlines()[0]) == (0, f"{data}: schema passed")

    bad = tmp_path / "bad.csv"
    pl.DataFrame({"id": [1.5], "extra": ["x"]}).write_csv(bad)
    res = cli("validate", str(bad), "--schema", str(schema))
    assert res.code == 1
    assert "wrong dtype" in res.out and "missing" in res.out and "unexpected" in res.out
    res = cli("validate", str(bad), "--schema", str(schema), "--json")
    assert res.code == 1 and json.loads(res.out)["failed_count"] == 3
    loose = cli("validate", str(bad), "--schema", str(schema), "--loose", "--json")
    assert loose.code == 1 and json.loads(loose.out)["failed_count"] == 2


def test_validate_records_on_a_ledger(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    Ledger.open(root).close()
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n{"a": 2}\n')
    assert cli("profile", str(data), "--out", str(tmp_path)).code == 0
    res = cli(
        "--root",
        str(root),
        "validate",
        str(data),
        "--schema",
        str(tmp_path / "d.schema.json"),
        "--record",
        "d",
    )
    assert res.code == 0, res.err
    with Ledger.open(root, create=False) as ledger:
        events = ledger.read(kind="validation.recorded", stream="validation/d")
    assert [(e.check, e.passed) for e in events] == [("schema", True)]  # type: ignore[union-attr]


def test_bad_input_exits_2_and_names_the_file(cli: Any, tmp_path: Path) -> None:
    res = cli("validate", str(tmp_path / "none.parquet"), "--schema", str(tmp_path / "x.json"))
    assert res.code == 2 and "none.parquet does not exist" in res.err
    data = tmp_path / "d.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(data)
    res = cli("validate", str(data), "--schema", str(tmp_path / "x.schema.json"))
    assert res.code == 2 and "x.schema.json does not exist" in res.err
    odd = tmp_path / "d.xlsx"
    odd.write_text("")
    res = cli("profile", str(odd))
    assert res.code == 2 and "unsupported file type .xlsx" in res.err
