"""The watcher's pure parts: partition values from paths, file facts, schema comparison."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lakeledger.ingest.watch.fileinfo import IncompleteFile, UnreadableFile, inspect
from lakeledger.ingest.watch.layout import is_data_file, is_hidden_or_temp
from lakeledger.store.partitions import partition_of

from .watch_fixtures import parquet_bytes, sales, sha


@pytest.mark.parametrize(
    ("rel", "layout", "expected"),
    [
        ("date=2025-03-01/part-0.parquet", "hive", "2025-03-01"),
        ("year=2025/month=03/part-0.parquet", "hive", "2025-03"),
        ("year=2025/month=3/day=7/hour=5/x.csv", "auto", "2025-03-07T05"),
        ("region=eu/date=2025-03-01/p.parquet", "auto", "region=eu/date=2025-03-01"),
        ("dt=2025-03-01%2012%3A00/p.parquet", "hive", "2025-03-01 12:00"),
        ("sales_2025-03-01.parquet", "date-name", "2025-03-01"),
        ("sales_20250301.csv", "auto", "2025-03-01"),
        ("2025/sales_2025-03.parquet", "date-name", "2025-03"),
        ("daily/2025-03-01/part-0.parquet", "date-name", "2025-03-01"),
        ("sales_2025-13-45.parquet", "date-name", None),
        ("notes.csv", "auto", None),
        ("sales_2025-03-01.parquet", "hive", None),
        ("orders_2025-03-02", "date-name", "2025-03-02"),
    ],
)
def test_partition_of(rel: str, layout: str, expected: str | None) -> None:
    is_dir = not rel.endswith((".parquet", ".csv"))
    assert partition_of(rel, layout, is_dir=is_dir) == expected  # type: ignore[arg-type]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)),
       st.sampled_from(["sales_{}.parquet", "{}_part.csv", "x-{}-y.pq"]))
def test_layouts_agree_on_any_date(day: date, pattern: str) -> None:
    """Hive (one key or calendar keys) and a date in the name give the same partition value."""
    iso = day.isoformat()
    name = pattern.format(iso)
    assert partition_of(name, "date-name") == iso
    assert partition_of(f"date={iso}/part-0.parquet", "hive") == iso
    cal = f"year={day.year}/month={day.month}/day={day.day}/part-0.parquet"
    assert partition_of(cal, "auto") == iso
    assert partition_of(pattern.format(iso.replace("-", "")), "auto") == iso


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("part-0.parquet", True), ("x.CSV", True), (".part-0.parquet", False),
        ("_SUCCESS", False), ("part-0.parquet.tmp", False), ("a.parquet.crdownload", False),
        ("a.csv~", False), ("a.csv.part", False), ("a.json", False), ("_committed_1", False),
    ],
)
def test_data_file_names(name: str, data: bool) -> None:
    assert is_data_file(name) is data
    if name.startswith((".", "_")) or name.endswith(("~", ".tmp", ".crdownload", ".part")):
        assert is_hidden_or_temp(name)


def test_parquet_facts_come_from_the_footer(tmp_path: Path) -> None:
    data = parquet_bytes(sales(10))
    path = tmp_path / "a.parquet"
    path.write_bytes(data)
    info = inspect(str(path))
    assert (info.format, info.rows, info.bytes) == ("parquet", 10, len(data))
    assert info.checksum == sha(data)
    assert info.schema.types == {"id": "int64", "amount": "float64"}
    other = tmp_path / "b.parquet"
    other.write_bytes(parquet_bytes(sales(3, seed=7)))
    assert inspect(str(other)).schema_hash == info.schema_hash  # same schema, other content


def test_truncated_parquet_is_incomplete_and_garbage_is_unreadable(tmp_path: Path) -> None:
    data = parquet_bytes(sales(100))
    half = tmp_path / "half.parquet"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(IncompleteFile, match="no footer"):
        inspect(str(half))
    empty = tmp_path / "empty.csv"
    empty.touch()
    with pytest.raises(IncompleteFile, match="empty"):
        inspect(str(empty))
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"hello world, not parquet")
    with pytest.raises(UnreadableFile, match="no PAR1 header") as err:
        inspect(str(garbage))
    assert err.value.checksum == sha(b"hello world, not parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 64 + b"\x10\x00\x00\x00PAR1")
    with pytest.raises(UnreadableFile, match="corrupt Parquet footer"):
        inspect(str(broken))


def test_csv_rows_are_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,note\n1,"two\nlines"\n2,plain\n3,"x"\n')
    info = inspect(str(path))
    assert info.rows == 3 and info.schema.names == ["id", "note"] and not info.types_reliable
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(UnreadableFile, match="malformed CSV"):
        inspect(str(bad))


def test_delta_table_facts_from_its_log(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    table = tmp_path / "t"
    write_deltalake(str(table), sales(4))
    first = inspect(str(table))
    assert (first.format, first.rows) == ("delta", 4)
    write_deltalake(str(table), sales(3), mode="append")
    second = inspect(str(table))
    assert second.rows == 7 and second.checksum != first.checksum
    assert second.bytes > first.bytes and second.schema_hash == first.schema_hash
