"""SQL ingestion from a real sqlite database (stdlib, no extra install)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lakeledger.ingest.extract.runner import run_sources
from lakeledger.store import Ledger

from .ingest_fixtures import bronze, load, payloads, quarantine, write_config

SCHEMA = {"id": "int", "name": "str", "score": "float?", "updated": "int"}


def make_db(path: Path, rows: list[tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS users (id, name TEXT, score REAL, updated INTEGER)")
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", rows)


def config(tmp_path: Path, **extra: object) -> Path:
    source = {
        "name": "users",
        "kind": "sql",
        "cursor": "updated",
        "schema": SCHEMA,
        "options": {"url": "sqlite:///users.db", "table": "users"},
        **extra,
    }
    return write_config(tmp_path / "sources.toml", [source])


def test_sqlite_incremental_with_bad_rows(tmp_path: Path, ledger: Ledger) -> None:
    make_db(
        tmp_path / "users.db",
        [(1, "ann", 1.5, 10), ("two", "bob", None, 11), (3, "cy", 2.0, 12), (4, None, 3.0, 12)],
    )
    loaded = load(config(tmp_path))
    [first] = run_sources(ledger, loaded)
    assert first.status == "success", first.error
    assert (first.read, first.written, first.quarantined) == (4, 2, 2)
    reasons = sorted(quarantine(ledger, "users")["reason"])
    assert reasons == ["id: expected int, got 'two'", "name: required value is missing"]

    again = run_sources(ledger, loaded)[0]
    assert (again.read, again.written) == (0, 0)

    make_db(tmp_path / "users.db", [(5, "dee", None, 13), (6, "eve", 1.0, 14)])
    third = run_sources(ledger, loaded)[0]
    assert (third.read, third.written) == (2, 2)
    assert sorted(bronze(ledger, "users")["id"]) == [1, 3, 5, 6]
    assert payloads(ledger, "ingest.checkpoint", "source/users")[-1]["cursor"] == {"value": 14}


def test_batches_never_split_equal_cursor_values(tmp_path: Path, ledger: Ledger) -> None:
    # 7 rows sharing updated=1, then 3 more: batches of 2 must not cut the run of equal values
    make_db(tmp_path / "users.db", [(i, f"u{i}", None, 1 if i < 7 else i) for i in range(10)])
    [result] = run_sources(ledger, load(config(tmp_path, batch_rows=2)))
    assert result.written == 10
    cursors = [c["cursor"]["value"] for c in payloads(ledger, "ingest.checkpoint", "source/users")]
    assert cursors == [1, 8, 9]
    assert bronze(ledger, "users")["id"].n_unique() == 10


def test_query_without_cursor_is_a_snapshot(tmp_path: Path, ledger: Ledger) -> None:
    make_db(tmp_path / "users.db", [(1, "ann", 1.5, 10), (2, "bob", 2.5, 11)])
    source = {
        "name": "top",
        "kind": "sql",
        "schema": {"id": "int", "name": "str"},
        "options": {
            "url": str(tmp_path / "users.db"),
            "query": "SELECT id, name FROM users WHERE score > 2",
        },
    }
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    assert run_sources(ledger, loaded)[0].written == 1
    assert run_sources(ledger, loaded)[0].written == 1
    assert bronze(ledger, "top")["name"].to_list() == ["bob", "bob"]


def test_bad_query_fails_the_run_clearly(tmp_path: Path, ledger: Ledger) -> None:
    make_db(tmp_path / "users.db", [])
    [result] = run_sources(
        ledger, load(config(tmp_path, options={"url": "sqlite:///users.db", "table": "nope"}))
    )
    assert result.status == "failed"
    assert "query of source 'users' failed: no such table: nope" in (result.error or "")


def test_any_dbapi_driver_by_module_name_or_connect_function(tmp_path: Path, ledger: Ledger) -> None:
    db = tmp_path / "users.db"
    make_db(db, [(1, "ann", 1.5, 10)])
    by_driver = {
        "name": "a",
        "kind": "sql",
        "cursor": "updated",
        "schema": SCHEMA,
        "options": {"driver": "sqlite3", "dsn": str(db), "table": "users"},
    }
    by_function = {
        "name": "b",
        "kind": "sql",
        "cursor": "updated",
        "schema": SCHEMA,
        "options": {
            "connect": "sqlite3:connect",
            "connect_args": {"database": str(db)},
            "query": "SELECT * FROM users",
        },
    }
    results = run_sources(ledger, load(write_config(tmp_path / "s.toml", [by_driver, by_function])))
    assert [(r.status, r.written) for r in results] == [("success", 1), ("success", 1)]
