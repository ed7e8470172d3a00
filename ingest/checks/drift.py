"""Distribution drift against a reference sample: PSI and the two-sample KS statistic.

Both summarise the reference once, at construction, and need only aggregates of the current
data, so they join a suite's single pass:
- PSI bins the current column with the reference's bins (quantile edges for numbers, the
  categories themselves otherwise) and counts per bin;
- KS is exact without sorting the current data: the ECDF distance can only peak at the
  reference's distinct values (from either side), and the current ECDF there is a cumulative
  count of ``search_sorted`` ranks into those values.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from lakeledger.store.errors import InvalidInput

from .check import Check, Plan
from .frames import as_frame
from .result import CheckResult, Severity

EPSILON = 1e-4  # floor for empty bins: PSI is undefined on a zero share


def _reference(reference: Any, column: str) -> pl.Series:
    if isinstance(reference, pl.Series):
        return reference.drop_nulls()
    frame = as_frame(reference, "reference")
    if column not in frame.columns:
        raise InvalidInput(f"drift reference has no column {column!r}; it has {frame.columns}")
    return frame[column].drop_nulls()


def _counts(pairs: list[dict[str, Any]] | None) -> dict[Any, int]:
    return {next(iter(p.values())): p["count"] for p in pairs or []}


def psi(expected: dict[Any, float], actual: dict[Any, float]) -> float:
    """Population stability index over the union of bins, shares floored at ``EPSILON``."""
    total = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0.0), EPSILON)
        a = max(actual.get(key, 0.0), EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def _shares(counts: dict[Any, int]) -> dict[Any, float]:
    n = sum(counts.values())
    return {k: v / n for k, v in counts.items()} if n else {}


class PSI(Check):
    """Population stability index of ``column`` against ``reference``; fails above ``threshold``.

    Numbers are cut at the reference's quantiles into ``bins`` bins; strings, booleans and
    categoricals are compared per category (unseen categories count as their own bins).
    """

    def __init__(
        self,
        column: str,
        reference: Any,
        *,
        bins: int = 10,
        threshold: float = 0.2,
        categorical: bool | None = None,
        severity: Severity = "warning",
    ) -> None:
        super().__init__(severity)
        self.column, self.threshold = column, threshold
        self.name = f"psi:{column}"
        ref = _reference(reference, column)
        if ref.len() == 0:
            raise InvalidInput(f"drift reference for {column!r} has no non-null values")
        self.categorical = (not ref.dtype.is_numeric()) if categorical is None else categorical
        if self.categorical:
            self.edges = None
            ref = ref.cast(pl.String)
            counts = _counts(ref.value_counts().to_dicts())
        else:
            qs = [ref.quantile(i / bins, "linear") for i in range(1, bins)]
            self.edges = pl.Series("edges", sorted({q for q in qs if q is not None}), pl.Float64)
            ranks = self.edges.search_sorted(ref.cast(pl.Float64), side="right")
            counts = _counts(ranks.value_counts().to_dicts())
        self.reference_shares = _shares(counts)

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        col = pl.col(self.column).drop_nulls()
        if self.categorical:
            binned = col.cast(pl.String)
        else:
            binned = pl.lit(self.edges).search_sorted(col.cast(pl.Float64), side="right")

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            current = _shares(_counts(values["counts"]))
            if not current:
                return self.result(
                    True,
                    observed={"psi": None},
                    expected={"max_psi": self.threshold},
                    details={"reason": "no non-null values to compare"},
                )
            score = psi(self.reference_shares, current)
            return self.result(
                score <= self.threshold,
                observed={"psi": score},
                expected={"max_psi": self.threshold},
                details={"bins": len(set(current) | set(self.reference_shares))},
            )

        return Plan(finish, {"counts": binned.value_counts().implode()})


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of the KS statistic (Kolmogorov distribution)."""
    if d <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    total = sum(2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(1.0, max(0.0, total))


class KS(Check):
    """Two-sample Kolmogorov-Smirnov statistic of a numeric ``column``; fails above threshold."""

    def __init__(
        self, column: str, reference: Any, *, threshold: float = 0.1, severity: Severity = "warning"
    ) -> None:
        super().__init__(severity)
        self.column, self.threshold = column, threshold
        self.name = f"ks:{column}"
        ref = _reference(reference, column)
        if ref.len() == 0 or not ref.dtype.is_numeric():
            raise InvalidInput(f"KS needs a numeric, non-empty reference for {column!r}")
        counts = ref.cast(pl.Float64).value_counts().sort(ref.name)
        self.points = counts[ref.name]
        self.m = ref.len()
        cum = counts["count"].cum_sum()
        self.ref_at = (cum / self.m).to_list()  # F_ref(u_j)
        self.ref_below = [0.0, *self.ref_at[:-1]]  # F_ref(u_j^-)

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        col = pl.col(self.column).drop_nulls().cast(pl.Float64)
        points = pl.lit(self.points)
        aggregates = {
            # rank = number of reference points strictly below / at-or-below each value
            "below": points.search_sorted(col, side="left").value_counts().implode(),
            "upto": points.search_sorted(col, side="right").value_counts().implode(),
        }

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            below, upto = _counts(values["below"]), _counts(values["upto"])
            n = sum(below.values())
            if n == 0:
                return self.result(
                    True,
                    observed={"ks": None},
                    expected={"max_ks": self.threshold},
                    details={"reason": "no non-null values to compare"},
                )
            d = 0.0
            at = under = 0
            for j in range(len(self.ref_at)):
                at += below.get(j, 0)  # values with #ref<x <= j, i.e. x <= u_j
                under += upto.get(j, 0)  # values with #ref<=x <= j, i.e. x < u_j
                d = max(d, abs(at / n - self.ref_at[j]), abs(under / n - self.ref_below[j]))
            return self.result(
                d <= self.threshold,
                observed={"ks": d, "p_value": ks_pvalue(d, n, self.m)},
                expected={"max_ks": self.threshold},
                details={"n": n, "reference_n": self.m},
            )

        return Plan(finish, aggregates)
