"""Quality checks on data that passes, fails and is empty, with exact failed counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from lakeledger.ingest.checks import (
    Categories,
    Completeness,
    Freshness,
    Range,
    RowCount,
    Schema,
    Uniqueness,
)
from lakeledger.store.errors import InvalidInput

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "amount": [10.0, -1.0, 250.0, None, 99.5, 100.0],
        "region": ["north", "south", "mars", None, "north", "venus"],
        "at": [NOW - timedelta(hours=h) for h in (1, 2, 3, 4, 5, 6)],
        "day": [date(2025, 5, d) for d in (1, 2, 3, 4, 5, 30)],
    },
    schema_overrides={"id": pl.Int32, "at": pl.Datetime("us", "UTC")},
)
EMPTY = FRAME.clear()


def test_schema() -> None:
    ok = Schema({"id": int, "amount": float, "region": str, "at": pl.Datetime("us", "UTC")})
    assert ok.run(FRAME).passed and ok.run(EMPTY).passed
    bad = Schema({"id": pl.Int64, "amount": float, "label": str}, strict=True)
    result = bad.run(FRAME)
    # wrong dtype (id), missing (label), unexpected (region, at, day)
    assert result.failed_count == 5
    assert result.details["wrong_dtype"] == {"id": {"expected": "Int64", "observed": "Int32"}}
    assert result.details["missing"] == ["label"]
    assert result.details["unexpected"] == ["region", "at", "day"]
    assert bad.run(EMPTY).failed_count == 5
    assert Schema({"at": pl.Datetime}).run(FRAME).passed  # a class: any unit / zone
    assert not Schema({"at": "Datetime(time_unit='ns', time_zone='UTC')"}).run(FRAME).passed


def test_completeness() -> None:
    assert Completeness(["id", "at"]).run(FRAME).failed_count == 0
    result = Completeness(max_null_share={"amount": 0.1, "region": 0.5}).run(FRAME)
    assert not result.passed
    assert result.failed_count == 1  # amount: 1/6 > 0.1; region 1/6 <= 0.5
    assert result.details["columns_over_threshold"] == ["amount"]
    assert result.observed["null_share"]["amount"] == pytest.approx(1 / 6)
    assert Completeness().run(EMPTY).passed


def test_uniqueness() -> None:
    assert Uniqueness("id").run(FRAME).failed_count == 0
    data = pl.DataFrame({"k": ["a", "a", "a", "b", "c", "c", None, None]})
    result = Uniqueness("k").run(data)
    assert (result.passed, result.failed_count) == (False, 3)  # 6 non-null, 3 distinct
    assert sorted(r["k"] for r in result.sample) == ["a", "a", "a", "c", "c"]
    assert Uniqueness("k", max_duplicate_share=0.4).run(data).passed  # 3/8 <= 0.4
    assert Uniqueness("k").run(data.clear()).failed_count == 0


def test_range() -> None:
    assert Range("amount", 0, 10_000).run(FRAME.filter(pl.col("amount") >= 0)).failed_count == 0
    result = Range("amount", 0, 100).run(FRAME)
    assert result.failed_count == 2  # -1 and 250; the null is not a range failure
    assert {r["amount"] for r in result.sample} == {-1.0, 250.0}
    assert Range("amount", 0, 100, inclusive=False).run(FRAME).failed_count == 3  # + 100.0
    assert Range("day", max=date(2025, 5, 29)).run(FRAME).failed_count == 1
    assert Range("amount", 0, 100).run(EMPTY).failed_count == 0
    with pytest.raises(InvalidInput):
        Range("amount")


def test_categories() -> None:
    allowed = ["north", "south", "east", "west"]
    assert Categories("region", [*allowed, "mars", "venus"]).run(FRAME).failed_count == 0
    result = Categories("region", allowed).run(FRAME)
    assert result.failed_count == 2
    assert result.observed["unexpected"] == ["mars", "venus"]
    many = [*(f"r{i}" for i in range(40)), "north", "south"]  # the is_in path
    assert Categories("region", many).run(FRAME).failed_count == 2
    as_cat = FRAME.with_columns(pl.col("region").cast(pl.Categorical))
    assert Categories("region", allowed).run(as_cat).failed_count == 2
    assert Categories("region", allowed).run(EMPTY).failed_count == 0


def test_freshness() -> None:
    assert Freshness("at", timedelta(hours=2), now=NOW).run(FRAME).passed
    stale = Freshness("at", timedelta(minutes=30), now=NOW).run(FRAME)
    assert not stale.passed and stale.observed["age_s"] == 3600
    naive = FRAME.with_columns(pl.col("at").dt.replace_time_zone(None))
    assert Freshness("at", timedelta(hours=2), now=NOW).run(naive).passed
    assert Freshness("day", timedelta(days=3), now=NOW).run(FRAME).passed
    empty = Freshness("at", timedelta(days=365), now=NOW).run(EMPTY)
    assert not empty.passed and empty.details["reason"] == "no values"
    assert not Freshness("amount", timedelta(days=1)).run(FRAME).passed  # not a time column


def test_row_count() -> None:
    assert RowCount(1, 10).run(FRAME).passed
    assert not RowCount(7).run(FRAME).passed
    assert not RowCount().run(EMPTY).passed
    assert RowCount(0).run(EMPTY).passed


def test_severity_is_validated_and_carried() -> None:
    with pytest.raises(InvalidInput, match="severity"):
        Range("amount", 0, severity="fatal")  # type: ignore[arg-type]
    result = Range("amount", 0, 100, severity="warning").run(FRAME)
    assert not result.passed and not result.blocking
    result.raise_if_blocking()  # a warning never raises
