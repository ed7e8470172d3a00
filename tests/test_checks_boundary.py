"""Boundary assertions on data that passes, fails and is empty, with exact failed counts."""

from __future__ import annotations

import polars as pl
import pytest
from lakeledger.ingest.checks import (
    CheckFailed,
    TemporalBoundary,
    check_leak,
    has_columns,
    no_nulls,
    safe_merge,
    unique_key,
)
from lakeledger.store.errors import InvalidInput

GOOD = pl.DataFrame({"user": [1, 2, 3], "day": ["a", "a", "b"], "score": [0.1, 0.2, 0.3]})
BAD = pl.DataFrame(
    {
        "user": [1, 1, 2, 2, 2, None],
        "day": ["a", "a", "b", "b", "c", None],
        "score": [0.1, None, 0.3, None, None, 0.9],
    }
)
EMPTY = GOOD.clear()


def test_has_columns_pass_fail_empty() -> None:
    assert has_columns(GOOD, ["user", "score"]).failed_count == 0
    with pytest.raises(CheckFailed) as err:
        has_columns(GOOD, ["user", "label", "target"], tag="LoadTrain")
    result = err.value.results[0]
    assert result.failed_count == 2
    assert result.observed == {"missing_columns": ["label", "target"]}
    assert "LoadTrain" in str(err.value)
    assert has_columns(EMPTY, ["user"]).passed  # columns exist even without rows


def test_unique_key_counts_surplus_rows() -> None:
    assert unique_key(GOOD, ["user", "day"]).failed_count == 0
    result = unique_key(BAD, ["user", "day"], raise_on_error=False)
    # keys: (1,a) x2, (2,b) x2, (2,c), (None,None) -> 4 distinct keys over 6 rows
    assert (result.passed, result.failed_count) == (False, 2)
    assert result.observed["distinct_keys"] == 4
    assert {(r["user"], r["day"]) for r in result.sample} == {(1, "a"), (2, "b")}
    assert len(result.sample) == 4
    assert unique_key(EMPTY, "user").failed_count == 0
    with pytest.raises(CheckFailed):
        unique_key(BAD, "user")


def test_unique_key_on_missing_column_fails_clearly() -> None:
    result = unique_key(GOOD, "session", raise_on_error=False)
    assert not result.passed and result.observed == {"missing_columns": ["session"]}


def test_no_nulls_counts_rows_with_any_null() -> None:
    assert no_nulls(GOOD, ["user", "score"]).failed_count == 0
    result = no_nulls(BAD, ["user", "score"], raise_on_error=False)
    assert result.failed_count == 4  # rows 1, 3, 4 (score) and 5 (user)
    assert result.observed == {"null_counts": {"user": 1, "score": 3}}
    assert no_nulls(EMPTY, ["user"]).failed_count == 0


BOUNDARY = TemporalBoundary(
    forbidden_columns=frozenset({"target", "actual_revenue"}),
    forbidden_prefixes=("outcome_",),
    allowed_stages=frozenset({"evaluation"}),
)


def test_check_leak() -> None:
    leaky = GOOD.with_columns(target=pl.lit(1), outcome_30d=pl.lit(0.0))
    assert check_leak(GOOD, BOUNDARY, stage="training").passed
    with pytest.raises(CheckFailed) as err:
        check_leak(leaky, BOUNDARY, stage="training")
    result = err.value.results[0]
    assert result.failed_count == 2
    assert result.observed == {"forbidden_columns_present": ["target", "outcome_30d"]}
    assert check_leak(leaky, BOUNDARY, stage="evaluation").passed
    assert check_leak(leaky.clear(), BOUNDARY, stage="evaluation").passed
    assert (
        check_leak(leaky.clear(), BOUNDARY, stage="training", raise_on_error=False).failed_count
        == 2
    )


def test_safe_merge_refuses_collisions() -> None:
    right = pl.DataFrame({"user": [1, 2], "score": [5.0, 6.0]})
    with pytest.raises(InvalidInput, match=r"\['score'\].*rename or drop"):
        safe_merge(GOOD, right, on="user")


def test_safe_merge_reports_multiplicity_and_validates() -> None:
    users = pl.DataFrame({"user": [1, 2, 3], "country": ["de", "fr", "it"]})
    merged = safe_merge(GOOD, users, on="user", validate="1:1")
    assert merged.result.observed["relationship"] == "1:1"
    assert merged.frame.height == 3 and merged.result.failed_count == 0

    events = pl.DataFrame({"user": [1, 1, 2, 9], "clicks": [1, 2, 3, 4]})
    loose = safe_merge(users, events, on="user", how="left")
    assert loose.result.observed["relationship"] == "1:m"
    assert loose.result.observed["right_duplicate_key_rows"] == 2
    assert loose.frame.height == 4  # user 1 twice, user 2, user 3 unmatched
    with pytest.raises(CheckFailed) as err:
        safe_merge(users, events, on="user", validate="1:1")
    assert err.value.results[0].failed_count == 2

    empty = safe_merge(users.clear(), events.clear(), on="user", validate="1:1")
    assert empty.result.passed and empty.frame.height == 0


def test_safe_merge_missing_key() -> None:
    with pytest.raises(InvalidInput, match="missing from the right frame"):
        safe_merge(GOOD, pl.DataFrame({"id": [1]}), on="user")
