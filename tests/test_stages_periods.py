"""Periods: expected ranges for every frequency, hive paths, coverage."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.stages.coverage import coverage
from lakeledger.store.errors import InvalidInput
from lakeledger.store.partitions import hive_exprs, hive_path, hive_values, label_of_hive
from lakeledger.store.periods import FREQS, expected_periods, next_period, period_expr, period_of
from lakeledger.store.periods import start_of as period_start


def test_expected_periods_each_freq() -> None:
    assert expected_periods("2025-01", "2025-06", "M") == [f"2025-{m:02d}" for m in range(1, 7)]
    assert expected_periods("2024-12-30T22:00", "2024-12-31T01:30", "H") == [
        "2024-12-30T22",
        "2024-12-30T23",
        "2024-12-31T00",
        "2024-12-31T01",
    ]
    assert expected_periods(date(2024, 2, 27), date(2024, 3, 1), "D") == [
        "2024-02-27",
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
    ]
    assert expected_periods("2024-12-23", "2025-01-06", "W") == ["2024-W52", "2025-W01", "2025-W02"]
    assert expected_periods("2024-11-15", "2025-04-01", "Q") == ["2024-Q4", "2025-Q1", "2025-Q2"]
    assert expected_periods("2023", "2025", "Y") == ["2023", "2024", "2025"]
    assert expected_periods("2025-03-05", "2025-03-05", "M") == ["2025-03"]


def test_bad_period_input() -> None:
    with pytest.raises(InvalidInput, match="reversed"):
        expected_periods("2025-06", "2025-01", "M")
    with pytest.raises(InvalidInput, match="not one of"):
        expected_periods("2025-01", "2025-02", "X")
    with pytest.raises(InvalidInput, match="neither an ISO date"):
        expected_periods("soon", "2025-02", "M")
    with pytest.raises(InvalidInput, match="not a valid M period"):
        period_start("2025-13", "M")


def test_hive_paths() -> None:
    assert hive_path("2025-03", "M", "root/data") == "root/data/year=2025/month=03"
    assert hive_path("2025-03-05T07", "H") == "year=2025/month=03/day=05/hour=07"
    assert hive_path("2024-W01", "W") == "year=2024/week=01"
    assert hive_path("2025-Q2", "Q") == "year=2025/quarter=2"
    assert hive_path("2025", "Y") == "year=2025"


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1))


@settings(max_examples=200, deadline=None)
@given(moment=moments, freq=st.sampled_from(FREQS))
def test_period_labels_round_trip(moment: datetime, freq: str) -> None:
    label = period_of(moment, freq)
    start = period_start(label, freq)
    assert start <= moment.replace(tzinfo=UTC) < period_start(next_period(label, freq), freq)
    assert period_of(start, freq) == label
    assert label_of_hive(hive_values(label, freq), freq) == label


@settings(max_examples=50, deadline=None)
@given(start=moments, days=st.integers(0, 200), freq=st.sampled_from(["D", "W", "M", "Q", "Y"]))
def test_expected_periods_are_consecutive(start: datetime, days: int, freq: str) -> None:
    labels = expected_periods(start, start + timedelta(days=days), freq)
    assert labels[0] == period_of(start, freq)
    assert all(next_period(a, freq) == b for a, b in itertools.pairwise(labels))
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("freq", FREQS)
def test_polars_expressions_agree_with_python(freq: str) -> None:
    times = [datetime(2024, 12, 29, 23, tzinfo=UTC) + timedelta(hours=37 * i) for i in range(60)]
    frame = pl.DataFrame({"t": times}).with_columns(
        period_expr("t", freq).alias("label"), *hive_exprs("t", freq)
    )
    assert frame["label"].to_list() == [period_of(t, freq) for t in times]
    for row in frame.to_dicts():
        assert hive_values(row["label"], freq) == {
            k: row[k] for k in hive_values(row["label"], freq)
        }


def test_coverage() -> None:
    cov = coverage(expected_periods("2025-01", "2025-04", "M"), ["2025-01", "2025-03", "2024-12"])
    assert cov.missing == ["2025-02", "2025-04"] and cov.unexpected == ["2024-12"]
    assert cov.share == 0.5 and not cov.complete
    assert coverage([], []).complete
