"""``json_objects`` lays JSON objects out with polars expressions; it must write exactly the text
``object_text`` (msgspec) writes for the same pairs: floats in msgspec's shortest form, strings
escaped as msgspec escapes them, keys sorted, stored JSON texts re-encoded only when msgspec
would write them otherwise."""

from __future__ import annotations

import math

import msgspec
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.projections.engine.keyvalues import json_objects, json_text, json_value, object_text

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
odd_texts = st.sampled_from(  # texts not as msgspec writes them (older states), some not JSON
    ["1.50", "1E5", "-0", "1e+16", "01", "tru", "abc", ' "a"', '"a\\u0041"', "[1, 2]", '{"a": 1}', ""]
)


def _pairs(draw_keys: list[str], values: list[object]) -> list[tuple[str, str, object]]:
    return [(f"r{i % 7}", k, v) for i, (k, v) in enumerate(zip(draw_keys, values, strict=False))]


def _expected(rows: list[tuple[str, str, object]]) -> dict[str, str]:
    objects: dict[str, dict[str, object]] = {}
    for owner, key, value in rows:
        objects.setdefault(owner, {})[key] = value
    return {owner: object_text(pairs) for owner, pairs in objects.items()}


def _got(rows: list[tuple[str, str, object]], dtype: pl.DataType, **options: bool) -> dict[str, str]:
    frame = pl.DataFrame(
        {"id": [r[0] for r in rows], "key": [r[1] for r in rows], "value": [r[2] for r in rows]},
        schema={"id": pl.String, "key": pl.String, "value": dtype},
    )
    return dict(json_objects(frame.lazy(), "id", "o", **options).collect().iter_rows())


def _unique(rows: list[tuple[str, str, object]]) -> list[tuple[str, str, object]]:
    seen: dict[tuple[str, str], tuple[str, str, object]] = {}
    for row in rows:
        seen[(row[0], row[1])] = row  # a state has one row per (owner, key)
    return list(seen.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=40), st.lists(st.floats() | st.none(), min_size=1, max_size=40))
def test_numbers_as_msgspec_writes_them(keys: list[str], values: list[float | None]) -> None:
    rows = _unique(_pairs(keys, values))
    assert _got(rows, pl.Float64()) == _expected(rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=40), st.lists(texts | st.none(), min_size=1, max_size=40))
def test_texts_escaped_as_msgspec_escapes_them(keys: list[str], values: list[str | None]) -> None:
    rows = _unique(_pairs(keys, values))
    assert _got(rows, pl.String()) == _expected(rows)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(texts, min_size=1, max_size=40),
    st.lists(scalars.map(lambda v: msgspec.json.encode(v).decode()) | odd_texts, min_size=1, max_size=40),
)
def test_stored_json_texts_keep_their_types(keys: list[str], stored: list[str]) -> None:
    rows = _unique(_pairs(keys, stored))
    want = _expected([(o, k, json_value(v)) for o, k, v in rows])  # type: ignore[arg-type]
    assert _got(rows, pl.String(), as_json=True) == want


def test_structs_nan_and_big_numbers() -> None:
    rows = [
        ("a", "m", {"last": math.nan, "count": 3}),
        ("a", "b", {"last": 1e16, "count": None}),
        ("b", "z", {"last": -0.0, "count": 2**62}),
        ("b", "é", {"last": 5e-324, "count": 0}),
    ]
    dtype = pl.Struct({"last": pl.Float64, "count": pl.Int64})
    assert _got(rows, dtype) == _expected(rows)
    assert _got(rows, dtype)["a"] == '{"b":{"last":1e16,"count":null},"m":{"last":null,"count":3}}'
    assert json_text(1e16) == "1e16"
