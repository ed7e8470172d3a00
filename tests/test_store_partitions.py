"""The one partition codec: every freq and layout, both directions (hypothesis round trips)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.store.errors import InvalidInput
from lakeledger.store.partitions import (
    hive_path,
    hive_values,
    label_of_hive,
    name_of,
    partition_of,
    period_label,
    split_partition,
)
from lakeledger.store.periods import FREQS, period_of, start_of

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC))
groups = st.sampled_from(["", "region=eu", "region=us/kind=full"])


@settings(max_examples=300, deadline=None)
@given(moment=moments, freq=st.sampled_from(FREQS), group=groups)
def test_hive_layout_round_trips(moment: datetime, freq: str, group: str) -> None:
    """label -> ``year=2025/week=10/`` -> what the watcher records -> the period, for every freq."""
    label = period_of(moment, freq)
    assert label_of_hive(hive_values(label, freq), freq) == label
    rel = "/".join(p for p in (group, hive_path(label, freq), "part-0.parquet") if p)
    recorded = "/".join(p for p in (group, label) if p)
    assert partition_of(rel, "hive") == partition_of(rel, "auto") == recorded
    assert split_partition(recorded, ()) == (group, start_of(label, freq))
    assert period_label(recorded, freq) == recorded
    # what older watchers recorded (raw key=value pairs) still lands in the same period
    assert period_label("/".join(p for p in (group, hive_path(label, freq)) if p), freq) == recorded


@settings(max_examples=300, deadline=None)
@given(moment=moments, freq=st.sampled_from(FREQS), prefix=st.sampled_from(["part", "sales", "v2_export"]))
def test_date_in_name_layout_round_trips(moment: datetime, freq: str, prefix: str) -> None:
    label = period_of(moment, freq)
    name = name_of(label, freq, prefix=prefix)
    assert partition_of(name, "date-name", freq=freq) == label
    assert partition_of(f"landing/{name}", "auto", freq=freq) == label
    assert split_partition(label, ()) == ("", start_of(label, freq))
    assert period_of(start_of(label, freq), freq) == label


@settings(max_examples=200, deadline=None)
@given(moment=moments, fine=st.sampled_from(FREQS), coarse=st.sampled_from(FREQS))
def test_a_finer_partition_falls_in_its_coarser_period(moment: datetime, fine: str, coarse: str) -> None:
    """Daily files of a monthly dataset count for their month, whatever the layout said."""
    if fine == "W" and coarse in ("M", "Q", "Y"):
        return  # a week can straddle months: its Monday decides, as ISO weeks do
    assert period_label(period_of(moment, fine), coarse) == period_of(start_of(period_of(moment, fine), fine), coarse)


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("year=2025/week=10/part-0.parquet", "2025-W10"),
        ("year=2025/quarter=3/x.parquet", "2025-Q3"),
        ("region=eu/year=2025/month=3/x.csv", "region=eu/2025-03"),
        ("date=2025-03-01/p.parquet", "2025-03-01"),
        ("year=2025/week=54/x.parquet", "year=2025/week=54"),  # no such ISO week: kept as it is
    ],
)
def test_recorded_partitions(rel: str, expected: str) -> None:
    assert partition_of(rel, "hive") == expected


def test_bad_labels_name_the_fix() -> None:
    with pytest.raises(InvalidInput, match="not a valid W period label"):
        start_of("2025-W60", "W")
    with pytest.raises(InvalidInput, match="not one of"):
        start_of("2025", "X")
    with pytest.raises(InvalidInput, match="do not name a Q period"):
        label_of_hive({"year": "2025", "month": "03"}, "Q")
