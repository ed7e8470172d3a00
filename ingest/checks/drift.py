"""Distribution drift against a reference sample: PSI and the two-sample KS statistic.

Both summarise the reference once, at construction, and need only aggregates of the current
data, so they join a suite's single pass:
- PSI bins the current column with the reference's bins (quantile edges for numbers, the
  categories themselves otherwise) and counts per bin;
- KS sorts the current column once (in the pass) and compares the ECDFs at the reference's
  distinct values, from both sides: between two of them the reference ECDF is flat, so the
  distance peaks there. Exact, unless the reference has more than ``resolution`` distinct
  values (then a quantile grid with a reported error bound).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from lakeledger.ingest.checks.check import Check, Plan
from lakeledger.ingest.checks.frames import as_frame
from lakeledger.ingest.checks.result import CheckResult, Severity
from lakeledger.store.errors import InvalidInput

EPSILON = 1e-4  # floor for empty bins: PSI is undefined on a zero share


def _reference(reference: Any, column: str) -> pl.Series:
    if isinstance(reference, pl.Series):
        return reference.drop_nulls()
    frame = as_frame(reference, "reference")
    if column not in frame.columns:
        raise InvalidInput(f"drift reference has no column {column!r}; it has {frame.columns}")
    return frame[column].drop_nulls()


def _counts(pairs: pl.Series | list[dict[str, Any]] | None) -> dict[Any, int]:
    if isinstance(pairs, pl.Series):
        pairs = pairs.to_list()
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
        col = pl.col(self.column)
        aggregates: dict[str, pl.Expr] = {"n": col.count()}
        if self.categorical:
            aggregates["counts"] = col.drop_nulls().cast(pl.String).value_counts().implode()
        else:  # bin k holds edge_k <= x < edge_k+1: counts from "x >= edge" sums (cheap)
            assert self.edges is not None
            aggregates |= {f"ge{k}": (col >= e).sum() for k, e in enumerate(self.edges)}

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            if self.categorical:
                current = _shares(_counts(values["counts"]))
            else:
                at_least = [values["n"], *(values[f"ge{k}"] for k in range(len(self.edges)))]
                at_least.append(0)
                current = _shares(
                    {k: at_least[k] - at_least[k + 1] for k in range(len(at_least) - 1)}
                )
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

        return Plan(finish, aggregates)


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of the KS statistic (Kolmogorov distribution)."""
    if d <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    total = sum(2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(1.0, max(0.0, total))


class KS(Check):
    """Two-sample Kolmogorov-Smirnov statistic of a numeric ``column``; fails above threshold.

    The ECDFs are compared at the reference's distinct values when there are at most
    ``resolution`` of them (exact), else at ``resolution`` reference quantiles: then the
    reported statistic is low by at most ``details["max_error"]`` (about 1/resolution).
    """

    def __init__(
        self,
        column: str,
        reference: Any,
        *,
        threshold: float = 0.1,
        resolution: int = 200_000,
        severity: Severity = "warning",
    ) -> None:
        super().__init__(severity)
        self.column, self.threshold = column, threshold
        self.name = f"ks:{column}"
        ref = _reference(reference, column)
        if ref.len() == 0 or not ref.dtype.is_numeric():
            raise InvalidInput(f"KS needs a numeric, non-empty reference for {column!r}")
        ref = ref.cast(pl.Float64).sort()
        self.m = ref.len()
        grid = ref.unique(maintain_order=True)
        self.exact = grid.len() <= resolution
        if not self.exact:
            picks = sorted({min(self.m - 1, j * self.m // resolution) for j in range(resolution)})
            grid = pl.concat([ref.gather(picks), ref.tail(1)]).unique(maintain_order=True)
        self.points = grid.rename("points")
        at = ref.search_sorted(grid, side="right") / self.m  # F_ref(g_j)
        below = ref.search_sorted(grid, side="left") / self.m  # F_ref(g_j^-)
        self.ref_at, self.ref_below = at, below
        # reference mass strictly between neighbouring grid points: the error bound
        gaps = below.slice(1) - at.slice(0, at.len() - 1)
        self.max_error = float(gaps.max() or 0.0) if gaps.len() else 0.0  # type: ignore[arg-type]

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, [self.column])) is not None:
            return absent
        ordered = pl.col(self.column).drop_nulls().cast(pl.Float64).sort().implode()

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            current: pl.Series = values["sorted"]
            n = current.len()
            if n == 0:
                return self.result(
                    True,
                    observed={"ks": None},
                    expected={"max_ks": self.threshold},
                    details={"reason": "no non-null values to compare"},
                )
            at = current.search_sorted(self.points, side="right") / n  # F_cur(g_j)
            below = current.search_sorted(self.points, side="left") / n  # F_cur(g_j^-)
            d = max(
                float((at - self.ref_at).abs().max() or 0.0),  # type: ignore[arg-type]
                float((below - self.ref_below).abs().max() or 0.0),  # type: ignore[arg-type]
            )
            return self.result(
                d <= self.threshold,
                observed={"ks": d, "p_value": ks_pvalue(d, n, self.m)},
                expected={"max_ks": self.threshold},
                details={
                    "n": n,
                    "reference_n": self.m,
                    "exact": self.exact,
                    "max_error": self.max_error,
                },
            )

        return Plan(finish, {"sorted": ordered})
