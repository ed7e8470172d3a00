"""Invariants: fusing checks into one pass changes no result; counts match plain Python."""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.checks import (
    Categories,
    Completeness,
    NoNulls,
    Range,
    Suite,
    UniqueKey,
    Uniqueness,
)

words = st.sampled_from(["a", "b", "c", "x", None])


@st.composite
def frames(draw: Any) -> pl.DataFrame:
    n = draw(st.integers(0, 40))
    return pl.DataFrame(
        {
            "k": draw(st.lists(st.one_of(st.none(), st.integers(0, 8)), min_size=n, max_size=n)),
            "v": draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n)),
            "w": draw(st.lists(words, min_size=n, max_size=n)),
        },
        schema={"k": pl.Int64, "v": pl.Int64, "w": pl.String},
    )


CHECKS = [
    UniqueKey(["k", "w"]),
    NoNulls(["v", "w"]),
    Uniqueness("k"),
    Range("v", -2, 3),
    Categories("w", ["a", "b", "c"]),
    Completeness(max_null_share=0.2),
]


def strip(result: Any) -> dict[str, Any]:
    return result.to_dict()


@settings(max_examples=120, deadline=None)
@given(frame=frames())
def test_suite_equals_each_check_alone(frame: pl.DataFrame) -> None:
    fused = Suite(CHECKS).run(frame).results
    alone = [c.run(frame) for c in CHECKS]
    assert [strip(r) for r in fused] == [strip(r) for r in alone]
    lazy = Suite(CHECKS).run(frame.lazy()).results
    assert [strip(r) for r in lazy] == [strip(r) for r in fused]


@settings(max_examples=120, deadline=None)
@given(frame=frames())
def test_failed_counts_match_plain_python(frame: pl.DataFrame) -> None:
    rows = frame.to_dicts()
    results = {r.check: r for r in Suite(CHECKS).run(frame).results}
    keys = Counter((r["k"], r["w"]) for r in rows)
    assert results["unique_key:k,w"].failed_count == len(rows) - len(keys)
    assert results["no_nulls:v,w"].failed_count == sum(
        r["v"] is None or r["w"] is None for r in rows
    )
    present = [r["k"] for r in rows if r["k"] is not None]
    assert results["uniqueness:k"].failed_count == len(present) - len(set(present))
    assert results["range:v"].failed_count == sum(
        r["v"] is not None and not -2 <= r["v"] <= 3 for r in rows
    )
    assert results["categories:w"].failed_count == sum(
        r["w"] is not None and r["w"] not in "abc" for r in rows
    )
    nulls = {c: sum(r[c] is None for r in rows) for c in ("k", "v", "w")}
    over = [c for c in nulls if rows and nulls[c] / len(rows) > 0.2]
    assert results["completeness"].failed_count == sum(nulls[c] for c in over)
    for result in results.values():
        assert result.passed == (result.failed_count == 0)
        assert len(result.sample) <= 5
        assert bool(result.sample) == (not result.passed)
