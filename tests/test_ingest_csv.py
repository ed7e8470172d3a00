"""CSV ingestion end to end on real files and real Delta tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.config import decode
from lakeledger.ingest.extract.runner import run_sources
from lakeledger.ingest.extract.sources import Context, build
from lakeledger.store import Ledger

from .ingest_fixtures import bronze, load, metrics, payloads, quarantine, write_config

SCHEMA = {"id": "int", "amount": "float", "paid": "bool?", "day": "date", "at": "datetime"}


def orders_config(tmp_path: Path, **extra: object) -> Path:
    source = {
        "name": "orders",
        "kind": "csv",
        "options": {"path": "data/*.csv"},
        "schema": SCHEMA,
        **extra,
    }
    return write_config(tmp_path / "sources.toml", [source])


def write_csv(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,amount,paid,day,at\n" + "".join(r + "\n" for r in rows))


def test_csv_good_and_bad_rows(tmp_path: Path, ledger: Ledger) -> None:
    write_csv(
        tmp_path / "data/a.csv",
        [
            "1,10.5,true,2024-01-01,2024-01-01T10:00:00Z",
            "2,abc,false,2024-01-01,2024-01-01 11:00:00",
            "3,7,,2024-01-02,2024-01-02T00:00:00+02:00",
            ",8,true,2024-01-02,2024-01-02T00:00:00",
            "5,9,maybe,2024-13-01,2024-01-02T00:00:00",
        ],
    )
    [result] = run_sources(ledger, load(orders_config(tmp_path)))
    assert result.status == "success", result.error
    assert (result.read, result.written, result.quarantined) == (5, 2, 3)

    rows = bronze(ledger, "orders").sort("id")
    assert rows["id"].to_list() == [1, 3]
    assert rows["paid"].to_list() == [True, None]
    assert str(rows.schema["at"]) == "Datetime(time_unit='us', time_zone='UTC')"
    assert rows["at"][1].isoformat() == "2024-01-01T22:00:00+00:00"
    assert rows["_row"].to_list() == [1, 3]
    assert set(rows["_run_id"]) == {result.run_id}
    assert {"_ingested_at", "ingest_date", "_batch", "_origin"} <= set(rows.columns)

    bad = quarantine(ledger, "orders").sort("row")
    assert bad["row"].to_list() == [2, 4, 5]
    assert bad["reason"][0] == "amount: expected float, got 'abc'"
    assert bad["reason"][1] == "id: required value is missing"
    assert bad["reason"][2].startswith("paid: expected bool")
    assert '"amount":"abc"' in bad["raw"][0]
    assert bad["origin"][0].endswith("a.csv")

    m = metrics(ledger, result.run_id)
    assert m["records_read"] == 5 and m["records_written"] == 2 and m["records_quarantined"] == 3
    assert m["bytes"] == (tmp_path / "data/a.csv").stat().st_size
    [started] = payloads(ledger, "run.started", f"run/{result.run_id}")
    assert started["job"] == "ingest/orders" and started["params"]["kind"] == "csv"
    [finished] = payloads(ledger, "run.finished", f"run/{result.run_id}")
    assert finished["status"] == "success"
    [observed] = payloads(ledger, "partition.observed", "dataset/bronze/orders")
    assert observed["rows"] == 2 and observed["partition"] == str(rows["ingest_date"][0])
    [declared] = payloads(ledger, "dataset.declared", "dataset/bronze/orders")
    assert declared["partition_key"] == ["ingest_date"]
    [checkpoint] = payloads(ledger, "ingest.checkpoint", "source/orders")
    assert checkpoint["batch"] == 1


def test_second_run_reads_only_new_files_and_appended_rows(tmp_path: Path, ledger: Ledger) -> None:
    config = load(orders_config(tmp_path))
    write_csv(tmp_path / "data/a.csv", [f"{i},1,true,2024-01-01,2024-01-01T00:00:00" for i in range(3)])
    assert run_sources(ledger, config)[0].written == 3
    again = run_sources(ledger, config)[0]
    assert (again.read, again.written, again.batches) == (0, 0, 0)

    write_csv(tmp_path / "data/b.csv", [f"{i},1,true,2024-01-01,2024-01-01T00:00:00" for i in range(3, 5)])
    with (tmp_path / "data/a.csv").open("a") as f:  # a grows: only its new row is read
        f.write("99,1,true,2024-01-01,2024-01-01T00:00:00\n")
    third = run_sources(ledger, config)[0]
    assert (third.read, third.written) == (3, 3)
    assert sorted(bronze(ledger, "orders")["id"]) == [0, 1, 2, 3, 4, 99]


def test_cursor_column_skips_rows_already_ingested(tmp_path: Path, ledger: Ledger) -> None:
    config = load(orders_config(tmp_path, cursor="at"))
    write_csv(
        tmp_path / "data/a.csv",
        ["1,1,true,2024-01-01,2024-01-01T00:00:00", "2,1,true,2024-01-01,2024-01-03T00:00:00"],
    )
    run_sources(ledger, config)
    # a re-export holding old and new rows: only rows past the cursor are new
    write_csv(
        tmp_path / "data/b.csv",
        ["1,1,true,2024-01-01,2024-01-01T00:00:00", "3,1,true,2024-01-01,2024-01-04T00:00:00"],
    )
    second = run_sources(ledger, config)[0]
    assert (second.read, second.skipped, second.written) == (2, 1, 1)
    assert sorted(bronze(ledger, "orders")["id"]) == [1, 2, 3]
    [*_, last] = payloads(ledger, "ingest.checkpoint", "source/orders")
    assert last["cursor"]["base"].startswith("2024-01-04T00:00:00")


def test_batches_and_dedupe(tmp_path: Path, ledger: Ledger) -> None:
    config = load(orders_config(tmp_path, batch_rows=4, dedupe_key=["id"]))
    write_csv(
        tmp_path / "data/a.csv",
        [f"{i % 7},1,true,2024-01-01,2024-01-01T00:00:00" for i in range(10)],
    )
    shares: list[float | None] = []
    [result] = run_sources(ledger, config, progress=lambda r: shares.append(r.done))
    assert result.batches == 3
    assert shares[-1] == 1.0 and shares == sorted(shares) and 0 < shares[0] < 1
    assert (result.written, result.duplicates, result.quarantined) == (7, 3, 3)
    assert sorted(bronze(ledger, "orders")["id"]) == list(range(7))
    reasons = quarantine(ledger, "orders")["reason"].to_list()
    assert all(r.startswith("duplicate of an earlier record with the same id") for r in reasons)
    assert [c["batch"] for c in payloads(ledger, "ingest.checkpoint", "source/orders")] == [1, 2, 3]


def test_latin1_and_semicolons(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "data/a.csv"
    path.parent.mkdir()
    path.write_bytes("id;name\n1;Zoë\n2;Ångström\n".encode("latin-1"))
    source = {
        "name": "people",
        "kind": "csv",
        "schema": {"id": "int", "name": "str"},
        "options": {"path": "data/a.csv", "delimiter": ";", "encoding": "latin-1"},
    }
    run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert bronze(ledger, "people").sort("id")["name"].to_list() == ["Zoë", "Ångström"]


def test_full_refresh_replaces_bronze(tmp_path: Path, ledger: Ledger) -> None:
    config = load(orders_config(tmp_path))
    write_csv(tmp_path / "data/a.csv", ["1,1,true,2024-01-01,2024-01-01T00:00:00"])
    run_sources(ledger, config)
    run_sources(ledger, config)
    refreshed = run_sources(ledger, config, full_refresh=True)[0]
    assert refreshed.written == 1 and bronze(ledger, "orders").height == 1
    assert refreshed.last_batch == 2


def test_missing_file_fails_the_run_with_a_clear_error(tmp_path: Path, ledger: Ledger) -> None:
    source = {"name": "x", "kind": "csv", "schema": {"id": "int"}, "options": {"path": "nope.csv"}}
    [result] = run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert result.status == "failed" and "nope.csv does not exist" in (result.error or "")
    [finished] = payloads(ledger, "run.finished")
    assert finished["status"] == "failed"


@pytest.mark.parametrize("rows", [0, 1])
def test_empty_or_tiny_file(tmp_path: Path, ledger: Ledger, rows: int) -> None:
    write_csv(tmp_path / "data/a.csv", ["1,1,true,2024-01-01,2024-01-01T00:00:00"][:rows])
    [result] = run_sources(ledger, load(orders_config(tmp_path)))
    assert result.status == "success", result.error
    assert result.written == rows
    assert len(payloads(ledger, "ingest.checkpoint")) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.text(alphabet='ab,"\n é', max_size=12), min_size=0, max_size=30),
    st.integers(1, 7),
)
def test_resuming_from_any_cursor_reads_exactly_the_rest(
    tmp_path: Path, notes: list[str], batch_rows: int
) -> None:
    """Quoted fields with delimiters, quotes and newlines; any batch size; restarting from
    any cursor a batch produced yields exactly the rows after it."""
    path = tmp_path / "notes.csv"
    pl.DataFrame({"id": range(len(notes)), "note": notes}).write_csv(path)
    raw = {
        "sources": [
            {
                "name": "n",
                "kind": "csv",
                "options": {"path": str(path)},
                "schema": {"id": "int", "note": "str?"},
                "batch_rows": batch_rows,
            }
        ]
    }
    source = build(decode(raw).source("n"), Context())
    batches = list(source.batches(None))
    ids = [b.frame["id"].to_list() if b.frame is not None and b.frame.height else [] for b in batches]
    assert [int(i) for chunk in ids for i in chunk] == list(range(len(notes)))
    assert all(len(chunk) == batch_rows for chunk in ids[:-1])
    texts = [t for b in batches if b.frame is not None and b.frame.height for t in b.frame["note"]]
    assert [t or "" for t in texts] == notes
    for k, batch in enumerate(batches):
        rest = [
            int(i)
            for b in source.batches(batch.cursor)
            if b.frame is not None and b.frame.height
            for i in b.frame["id"]
        ]
        assert rest == [int(i) for chunk in ids[k + 1 :] for i in chunk]


@pytest.mark.parametrize("overlap", [True, False])
def test_a_batch_sent_in_parts_lands_as_one_batch(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, overlap: bool
) -> None:
    """A big batch leaves the CSV source in parts (``Batch.more``), each checked as it comes; the
    runner commits the parts as one batch with the last part's cursor, and every part's cursor
    is still an exact resume point. The same with the next batch read ahead (an idle core) or
    not (a busy machine)."""
    from lakeledger.ingest.extract import runner
    from lakeledger.ingest.extract.sources import csv as csv_source

    monkeypatch.setattr(runner, "idle_core", lambda: overlap)
    monkeypatch.setattr(csv_source, "_PIECE_ROWS", 500)
    monkeypatch.setattr(csv_source, "_PART_ROWS", 100)
    n = 12_000  # > 64 KB of text: several pieces
    rows = [f"{i},{'x' if i % 997 == 5 else i / 10},true,2024-01-0{1 + i % 9},2024-01-01T00:00:{i % 60:02d}Z"
            for i in range(n)]
    write_csv(tmp_path / "data/a.csv", rows)
    config = orders_config(tmp_path, batch_rows=5_000)
    source = build(load(config).source("orders"), Context(base_dir=str(tmp_path)))
    sent = list(source.batches(None))
    assert any(b.more for b in sent) and not sent[-1].more
    whole = [0]
    for b in sent:
        whole[-1] += b.rows
        if not b.more:
            whole.append(0)
    assert whole[:-1] == [5_000, 5_000, 2_000]
    seen = 0
    for b in sent:  # resuming after any part reads exactly the rest
        seen += b.rows
        rest = [int(i) for r in source.batches(b.cursor) if r.frame is not None for i in r.frame["id"]]
        assert rest == list(range(seen, n))
    [result] = run_sources(ledger, load(config))
    bad = [i for i in range(n) if i % 997 == 5]
    assert (result.batches, result.read, result.written, result.quarantined) == (3, n, n - len(bad), len(bad))
    landed = bronze(ledger, "orders")
    assert sorted(landed["id"].to_list()) == [i for i in range(n) if i not in bad]
    assert sorted(landed["_batch"].unique().to_list()) == [1, 2, 3]
    lines = quarantine(ledger).sort("row")
    assert lines["row"].to_list() == [i + 1 for i in bad]
    assert all(r.startswith("amount: expected float, got 'x'") for r in lines["reason"])


def test_read_ahead_hands_over_items_in_order_and_stops_with_the_consumer() -> None:
    """``ahead``: every item once, in order; a producer's error reaches the consumer; a consumer
    that stops early stops the producer, whose generator is closed (its cleanup runs)."""
    import threading

    from lakeledger.ingest.extract.validation import ahead

    assert list(ahead(iter(range(50)))) == list(range(50))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("broken source")

    got = []
    with pytest.raises(ValueError, match="broken source"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [1]

    closed = threading.Event()

    def endless():  # type: ignore[no-untyped-def]
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    for item in ahead(endless()):
        if item == 3:
            break
    assert closed.wait(10)
