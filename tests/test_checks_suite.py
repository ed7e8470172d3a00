"""Suites: one pass over the data, JSON report, recording, any Arrow-convertible input."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa
import pytest
from lakeledger.ingest.checks import (
    CheckFailed,
    Completeness,
    HasColumns,
    NoNulls,
    Range,
    RowCount,
    Schema,
    Suite,
    UniqueKey,
    as_polars,
)
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput
from polars.io.plugins import register_io_source

DATA = pl.DataFrame({"id": [1, 2, 2, 4], "x": [0.5, 2.0, None, -3.0], "s": ["a", "b", "c", "d"]})
CHECKS = [
    HasColumns(["id", "x"]),
    Schema({"id": int, "x": float}),
    UniqueKey("id"),
    NoNulls("x"),
    Range("x", 0, 1),
    Completeness(max_null_share=0.5),
    RowCount(1),
]


def test_clean_data_takes_one_pass() -> None:
    clean = DATA.filter(pl.col("id") == 1)
    report = Suite(CHECKS).run(clean)
    assert report.passed and report.passes == 1 and report.rows == 1


def test_failures_take_one_more_pass_for_samples() -> None:
    for data, passes in ((DATA, 2), (DATA.lazy(), 3)):
        report = Suite(CHECKS).run(data)
        assert report.passes == passes
        failed = {r.check: r.failed_count for r in report.results if not r.passed}
        assert failed == {"unique_key:id": 1, "no_nulls:x": 1, "range:x": 2}
        by_name = {r.check: r for r in report.results}
        assert [row["x"] for row in by_name["range:x"].sample] == [2.0, -3.0]


def counting_source(frame: pl.DataFrame, scans: list[int]) -> pl.LazyFrame:
    """A real lazy source that counts how often polars reads it."""

    def read(columns: list[str] | None, predicate: Any, n_rows: Any, batch_size: Any) -> Any:
        scans.append(1)
        yield frame if columns is None else frame.select(columns)

    return register_io_source(read, schema=frame.schema)


def test_passes_are_real_scans_of_a_lazy_source() -> None:
    scans: list[int] = []
    report = Suite(CHECKS).run(counting_source(DATA.filter(pl.col("id") == 1), scans))
    assert report.passed and report.passes == len(scans) == 1
    scans.clear()
    report = Suite(CHECKS).run(counting_source(DATA, scans))
    # aggregates; failure details over the failing checks' columns; sample rows by index
    assert not report.passed and report.passes == len(scans) == 3
    assert Suite(CHECKS).run(DATA).passes == 2  # in memory: rows gathered in the second pass


def test_report_json_and_blocking() -> None:
    report = Suite(CHECKS).run(DATA)
    doc = json.loads(report.to_json())
    assert doc["passed"] is False and doc["blocking"] == 3 and doc["rows"] == 4
    assert [r["check"] for r in doc["results"]] == [c.name for c in CHECKS]
    with pytest.raises(CheckFailed) as err:
        report.raise_if_blocking("orders")
    assert "orders: 3 check(s) failed" in str(err.value)
    assert len(err.value.results) == 3


def test_empty_frame() -> None:
    report = Suite(CHECKS).run(DATA.clear())
    assert [r.check for r in report.results if not r.passed] == ["row_count"]
    assert report.passes == 1  # row_count has no failing rows to sample


def test_record_writes_validation_events(ledger: Ledger) -> None:
    report = Suite(CHECKS).run(DATA)
    with ledger.run("validate") as run:
        committed = report.record(ledger, "orders", run.run_id)
    assert len(committed.events) == len(CHECKS)
    rows = ledger.events(kind="validation.recorded", stream="validation/orders").collect()
    assert rows.height == len(CHECKS)
    events = ledger.read(kind="validation.recorded")
    ranged = next(e for e in events if e.check == "range:x")  # type: ignore[union-attr]
    assert ranged.passed is False and ranged.failed_count == 2  # type: ignore[union-attr]
    assert ranged.run_id == run.run_id  # type: ignore[union-attr]
    assert ranged.details["sample"][0]["x"] == 2.0  # type: ignore[union-attr]
    single = Range("x", -5, 10).run(DATA).record(ledger, "orders")
    assert single.passed and single.failed_count == 0


class _ArrowStream:
    """Any object with the Arrow PyCapsule stream protocol (as pandas >= 2.2 has)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)


def test_arrow_convertible_inputs() -> None:
    table = DATA.to_arrow()
    for data in (
        table,
        table.to_batches()[0],
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        _ArrowStream(table),
    ):
        report = Suite(CHECKS).run(data)
        assert {r.check: r.failed_count for r in report.results if not r.passed} == {
            "unique_key:id": 1,
            "no_nulls:x": 1,
            "range:x": 2,
        }


def test_pandas_when_installed() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2, 2], "x": [0.5, 0.7, 0.9]})
    assert Suite([UniqueKey("id")]).run(frame).results[0].failed_count == 1


def test_unsupported_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="expected a polars DataFrame"):
        as_polars([1, 2, 3])


def test_results_round_trip_as_json() -> None:
    result = Range("x", 0, 1).run(DATA)
    assert msgspec.json.decode(msgspec.json.encode(result.to_dict()))["failed_count"] == 2
