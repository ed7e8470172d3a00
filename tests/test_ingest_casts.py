"""The fast casts of text columns (arrow's ISO 8601 parser, a direct bool map) read every value
exactly as the reference polars expressions (``cast_text``) do: same value or both null."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.casts import cast_text, fast_cast, one_shape
from lakeledger.ingest.extract.records import RecordSchema

digits = st.text("0123456789", min_size=1, max_size=3)
two = st.integers(0, 99).map(lambda n: f"{n:02d}")
# mostly well-formed ISO 8601 text, with every field pushed past its range now and then
ZONES = ["", "Z", "z", "+00:00", "+0000", "-05:30", "+05", "+14:00", "+24:00", "+99:99", "-0000"]


def datetimes_in(zones: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly well-formed ISO 8601 text, with every field pushed past its range now and then."""
    return st.builds(
        lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}",
        st.sampled_from(["2024", "1970", "0001", "9999", "2023"]),
        st.sampled_from(["01", "02", "12", "13", "00"]) | two,
        st.sampled_from(["01", "28", "29", "30", "31", "00"]) | two,
        st.sampled_from(["T", " ", "t", "  "]),
        st.sampled_from(["00", "23", "24"]) | two,
        st.sampled_from(["00", "59", "60"]) | two,
        st.sampled_from(["00", "59", "60", "61"]) | two,
        st.sampled_from(["", ".5", ".123456", ".1234567", ".", ".000000001"]) | digits.map(lambda x: "." + x),
        zones,
    )


datetimes = datetimes_in(st.sampled_from(ZONES))
dates = st.builds(
    lambda y, m, d: f"{y}-{m}-{d}",
    st.sampled_from(["2024", "2023", "0001", "9999", "24"]),
    st.sampled_from(["01", "02", "12", "13", "1"]) | two,
    st.sampled_from(["01", "28", "29", "30", "31", "7"]) | two,
)
noise = st.text(max_size=30) | st.sampled_from(["", " ", "null", "2024-01-01", "2024-01-01T10"])
bools = st.sampled_from(["true", "TRUE", "True", "t", "Y", "yes", "YeS", "no", "N", "0", "1", "f", "FALSE",
                         " true ", "\ttrue", "tru", "", "2", "K", "ｔｒｕｅ"]) | st.text(max_size=6)


def _same(values: list[str | None], kind: str) -> None:
    column = pl.Series("c", values, pl.String)
    fast = fast_cast(column, kind)
    if fast is None:
        return  # the fast route declined: the reference is used, nothing to compare
    slow = pl.DataFrame({"c": column}).select(cast_text(pl.col("c"), kind)).to_series()
    assert fast.dtype == slow.dtype
    same = [repr(v) for v in fast.to_list()] == [repr(v) for v in slow.to_list()]  # (nan == nan)
    assert same, list(zip(values, fast.to_list(), slow.to_list(), strict=True))


@settings(max_examples=400, deadline=None)
@given(st.lists(datetimes | st.none(), min_size=1, max_size=8))
def test_fast_datetime_cast_reads_as_the_reference(values: list[str | None]) -> None:
    _same(values, "datetime")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["", "Z", "+0000", "-05:30", "+05", "+24:00"]).flatmap(
    lambda zone: st.lists(datetimes_in(st.just(zone)) | st.none(), max_size=6)
))
def test_fast_datetime_cast_on_columns_of_one_zone_shape(values: list[str | None]) -> None:
    """(columns of one offset shape are where the fast route is taken)"""
    _same(values, "datetime")


@settings(max_examples=200, deadline=None)
@given(st.lists(datetimes | noise | st.none(), min_size=1, max_size=5))
def test_fast_datetime_cast_on_any_text(values: list[str | None]) -> None:
    _same(values, "datetime")


def _varied(template: str, edits: list[tuple[int, str]]) -> str:
    chars = list(template)
    for at, char in edits:
        chars[at % len(chars)] = char
    return "".join(chars)


# one machine-written shape: every value as wide as the others, digits varied and, now and then,
# any byte replaced (where the byte-level shape check, not the pattern, decides)
edits = st.lists(st.tuples(st.integers(0, 40), st.sampled_from(list("0123456789") * 3 + list("Z+-:.T t9x١"))),
                 max_size=2)
one_shape_columns = datetimes.flatmap(
    lambda template: st.lists(edits.map(lambda e: _varied(template, e)) | st.none(), min_size=1, max_size=8)
)


@settings(max_examples=400, deadline=None)
@given(one_shape_columns)
def test_fast_datetime_cast_on_columns_of_one_width(values: list[str | None]) -> None:
    _same(values, "datetime")


@settings(max_examples=300, deadline=None)
@given(st.lists(dates | noise | st.none(), min_size=1, max_size=8))
def test_fast_date_cast_reads_as_the_reference(values: list[str | None]) -> None:
    _same(values, "date")


@settings(max_examples=300, deadline=None)
@given(st.lists(bools | st.none(), min_size=1, max_size=8))
def test_fast_bool_cast_reads_as_the_reference(values: list[str | None]) -> None:
    _same(values, "bool")


numbers = st.sampled_from(["1", " 2", "3 ", "-4", "+5", "1e3", "1.5", " 1.5 ", "nan", "inf", "-0", "0x10", "1_000",
                           "", " ", "9223372036854775808", "１", "\t7\n", "1,5"]) | st.text(max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(numbers | st.none(), min_size=1, max_size=8), st.sampled_from(["int", "float"]))
def test_fast_number_cast_reads_as_the_reference(values: list[str | None], kind: str) -> None:
    _same(values, kind)


def test_fast_casts_take_the_common_shapes() -> None:
    """The fast route is really taken for the usual ISO text (else it would gain nothing)."""
    zoned = pl.Series(["2024-01-01T00:00:00.000000+0000", "2024-01-01 10:00:00Z", "2024-01-01T01:00:00-05:30"])
    assert fast_cast(zoned, "datetime") is not None
    assert fast_cast(pl.Series(["2024-02-29T23:59:59", "2024-01-01 00:00:00.5", None]), "datetime") is not None
    assert fast_cast(pl.Series(["2024-02-29T23:59:59", "2024-01-01 00:00:00Z"]), "datetime") is None
    assert fast_cast(pl.Series(["2024-01-01", None]), "date") is not None
    same_width = pl.Series([f"2024-01-{d:02d}T00:00:00.000000+0000" for d in range(1, 29)] + [None])
    assert one_shape(same_width.drop_nulls().to_arrow()) and fast_cast(same_width, "datetime") is not None
    assert not one_shape(pl.Series(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+"]).to_arrow())
    assert fast_cast(pl.Series(["true", "false", None]), "bool") is not None
    bad = fast_cast(pl.Series(["2024-02-30T00:00:00"]), "datetime")  # arrow refuses: reference decides
    assert bad is None


def test_a_bad_datetime_among_good_ones_is_quarantined_with_its_reason() -> None:
    schema = RecordSchema.from_spec({"at": "datetime"})
    frame = pl.DataFrame({"at": ["2024-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-02 00:00:00"]})
    checked = schema.check_frame(frame)
    assert checked.valid["at"].dt.day().to_list() == [1, 2]
    assert checked.bad["_reason"].to_list() == ["at: expected datetime, got '2024-02-30T00:00:00Z'"]
