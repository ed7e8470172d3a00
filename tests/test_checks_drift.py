"""Drift: a shifted distribution flags, an identical one does not (fixed seeds); KS is exact."""

from __future__ import annotations

import bisect
import math
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.checks import KS, PSI
from lakeledger.ingest.checks.drift import ks_pvalue, psi
from lakeledger.store.errors import InvalidInput


def normal(seed: int, n: int, mu: float = 0.0, sigma: float = 1.0) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame({"x": [rng.gauss(mu, sigma) for _ in range(n)]})


def categories(seed: int, n: int, weights: list[float]) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame({"c": rng.choices(["a", "b", "c", "d"], weights, k=n)})


REF = normal(1, 20_000)


def test_psi_numeric_identical_and_same_distribution_do_not_flag() -> None:
    check = PSI("x", REF)
    assert check.run(REF).observed["psi"] == pytest.approx(0.0, abs=1e-12)
    fresh_sample = check.run(normal(2, 20_000))
    assert fresh_sample.passed and fresh_sample.observed["psi"] < 0.01


def test_psi_numeric_shift_flags() -> None:
    result = PSI("x", REF).run(normal(3, 20_000, mu=1.0))
    assert not result.passed and result.observed["psi"] > 0.5
    assert result.severity == "warning" and not result.blocking


def test_psi_categorical() -> None:
    ref = categories(4, 10_000, [0.4, 0.3, 0.2, 0.1])
    check = PSI("c", ref)
    assert check.categorical
    assert check.run(categories(5, 10_000, [0.4, 0.3, 0.2, 0.1])).passed
    shifted = check.run(categories(6, 10_000, [0.1, 0.2, 0.3, 0.4]))
    assert not shifted.passed and shifted.observed["psi"] > 0.5
    unseen = check.run(pl.DataFrame({"c": ["a", "z"] * 50}))  # a category never seen
    assert not unseen.passed


def test_psi_formula() -> None:
    assert psi({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5}) == 0.0
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi({0: 0.5, 1: 0.5}, {0: 0.8, 1: 0.2}) == pytest.approx(expected)


def test_ks_identical_same_and_shifted() -> None:
    check = KS("x", REF)
    assert check.run(REF).observed["ks"] == 0.0
    same = check.run(normal(7, 20_000))
    assert same.passed and same.observed["ks"] < 0.03 and same.observed["p_value"] > 0.001
    shifted = check.run(normal(8, 20_000, mu=0.5))
    assert not shifted.passed and shifted.observed["ks"] > 0.15
    assert shifted.observed["p_value"] < 1e-10
    wider = check.run(normal(9, 20_000, sigma=2.0))
    assert not wider.passed


def test_drift_on_empty_or_all_null_data_passes_and_says_why() -> None:
    for check in (PSI("x", REF), KS("x", REF)):
        result = check.run(REF.clear())
        assert result.passed and result.details["reason"] == "no non-null values to compare"
    with pytest.raises(InvalidInput):
        KS("x", REF.clear())
    with pytest.raises(InvalidInput, match="no column"):
        PSI("y", REF)


def brute_ks(a: list[float], b: list[float]) -> float:
    sa, sb = sorted(a), sorted(b)
    d = 0.0
    for x in sa + sb:
        for side in (bisect.bisect_right, bisect.bisect_left):
            d = max(d, abs(side(sa, x) / len(sa) - side(sb, x) / len(sb)))
    return d


values = st.lists(st.integers(-20, 20).map(lambda v: v / 4), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(ref=values, cur=values)
def test_ks_equals_brute_force(ref: list[float], cur: list[float]) -> None:
    """Exact: equals the sup-distance of the two ECDFs, ties included."""
    got = KS("x", pl.DataFrame({"x": ref})).run(pl.DataFrame({"x": cur})).observed["ks"]
    assert got == pytest.approx(brute_ks(ref, cur), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(ref=st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=200), cur=values)
def test_ks_on_a_coarse_grid_stays_within_its_error_bound(
    ref: list[float], cur: list[float]
) -> None:
    check = KS("x", pl.DataFrame({"x": ref}), resolution=4)
    result = check.run(pl.DataFrame({"x": cur}))
    exact = brute_ks(ref, cur)
    assert result.observed["ks"] <= exact + 1e-12
    assert exact <= result.observed["ks"] + result.details["max_error"] + 1e-12


def test_ks_pvalue_bounds() -> None:
    assert ks_pvalue(0.0, 100, 100) == 1.0
    assert 0.0 <= ks_pvalue(0.2, 100, 100) < 0.05 < ks_pvalue(0.1, 100, 100) <= 1.0
