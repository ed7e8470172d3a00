"""Boundary assertions: fail fast where data enters or leaves a step.

The functions (``has_columns``, ``unique_key``, ``no_nulls``, ``check_leak``) run at once and
raise ``CheckFailed`` (carrying the result) when a check of severity ``error`` fails; pass
``raise_on_error=False`` to get the result instead. The classes are the same checks for a
``Suite``. ``safe_merge`` is a join that refuses silent column collisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from lakeledger.ingest.checks.check import Check, Plan, as_list
from lakeledger.ingest.checks.frames import as_frame
from lakeledger.ingest.checks.result import CheckFailed, CheckResult, Severity
from lakeledger.store.errors import InvalidInput


class HasColumns(Check):
    def __init__(self, columns: str | Sequence[str], severity: Severity = "error") -> None:
        super().__init__(severity)
        self.columns = as_list(columns)
        self.name = "has_columns"

    def plan(self, schema: pl.Schema) -> CheckResult:
        absent = [c for c in self.columns if c not in schema]
        return self.result(
            not absent,
            observed={"missing_columns": absent},
            expected=self.columns,
            failed_count=len(absent),
        )


class UniqueKey(Check):
    """A key (one or more columns; nulls compare equal) that identifies every row.

    ``failed_count`` is the number of surplus rows: rows minus distinct keys (two rows sharing
    a key count as one failure). It comes from a distinct count, which polars computes fast;
    the rows holding duplicated keys are only located when the check fails.
    """

    def __init__(self, on: str | Sequence[str], severity: Severity = "error") -> None:
        super().__init__(severity)
        self.on = as_list(on)
        self.name = f"unique_key:{','.join(self.on)}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, self.on)) is not None:
            return absent
        key = pl.col(self.on[0]) if len(self.on) == 1 else pl.struct(self.on)

        def finish(values: dict[str, Any], rows: int, _failed: int | None) -> CheckResult:
            surplus = rows - values["distinct"]
            return self.result(
                surplus == 0,
                failed_count=surplus,
                expected={"duplicate_rows": 0},
                observed={
                    "duplicate_rows": surplus,
                    "distinct_keys": values["distinct"],
                    "rows": rows,
                },
            )

        return Plan(finish, {"distinct": key.n_unique()}, key.is_duplicated(), count_failing=False)


class NoNulls(Check):
    """Rows with a null in any of ``columns``."""

    def __init__(self, columns: str | Sequence[str], severity: Severity = "error") -> None:
        super().__init__(severity)
        self.columns = as_list(columns)
        self.name = f"no_nulls:{','.join(self.columns)}"

    def plan(self, schema: pl.Schema) -> Plan | CheckResult:
        if (absent := self.missing(schema, self.columns)) is not None:
            return absent

        def finish(values: dict[str, Any], rows: int, failed: int | None) -> CheckResult:
            nulls = {c: values[c] for c in self.columns}
            return self.result(
                failed == 0,
                failed_count=failed,
                observed={"null_counts": nulls},
                expected={"null_counts": 0},
            )

        return Plan(
            finish,
            {c: pl.col(c).null_count() for c in self.columns},
            pl.any_horizontal([pl.col(c).is_null() for c in self.columns]),
        )


@dataclass(frozen=True)
class TemporalBoundary:
    """Columns that carry the future (targets, outcomes) and the stages allowed to see them."""

    forbidden_columns: frozenset[str] = frozenset()
    forbidden_prefixes: tuple[str, ...] = ()
    allowed_stages: frozenset[str] = field(default_factory=frozenset)

    def leaked(self, columns: Sequence[str]) -> list[str]:
        return [
            c
            for c in columns
            if c in self.forbidden_columns or c.startswith(tuple(self.forbidden_prefixes))
        ]


class Leak(Check):
    """Fails when a stage outside ``allowed_stages`` sees a forbidden column."""

    def __init__(
        self, boundary: TemporalBoundary, stage: str, severity: Severity = "error"
    ) -> None:
        super().__init__(severity)
        self.boundary = boundary
        self.stage = stage
        self.name = f"temporal_leak:{stage}"

    def plan(self, schema: pl.Schema) -> CheckResult:
        leaked = (
            [] if self.stage in self.boundary.allowed_stages else self.boundary.leaked(list(schema))
        )
        return self.result(
            not leaked,
            observed={"forbidden_columns_present": leaked},
            expected={"forbidden_columns_present": []},
            failed_count=len(leaked),
            details={"stage": self.stage, "allowed_stages": sorted(self.boundary.allowed_stages)},
        )


def _assert(check: Check, data: Any, raise_on_error: bool, tag: str) -> CheckResult:
    result = check.run(data)
    return result.raise_if_blocking(tag) if raise_on_error else result


def has_columns(
    data: Any, columns: str | Sequence[str], *, tag: str = "data", raise_on_error: bool = True
) -> CheckResult:
    return _assert(HasColumns(columns), data, raise_on_error, tag)


def unique_key(
    data: Any, on: str | Sequence[str], *, tag: str = "data", raise_on_error: bool = True
) -> CheckResult:
    return _assert(UniqueKey(on), data, raise_on_error, tag)


def no_nulls(
    data: Any, columns: str | Sequence[str], *, tag: str = "data", raise_on_error: bool = True
) -> CheckResult:
    return _assert(NoNulls(columns), data, raise_on_error, tag)


def check_leak(
    data: Any,
    boundary: TemporalBoundary,
    stage: str,
    *,
    tag: str = "data",
    raise_on_error: bool = True,
) -> CheckResult:
    return _assert(Leak(boundary, stage), data, raise_on_error, tag)


Relationship = Literal["1:1", "1:m", "m:1", "m:m"]
_ALLOWS: dict[str, set[str]] = {
    "1:1": {"1:1"},
    "1:m": {"1:1", "1:m"},
    "m:1": {"1:1", "m:1"},
    "m:m": {"1:1", "1:m", "m:1", "m:m"},
}


@dataclass
class Merge:
    frame: pl.DataFrame
    result: CheckResult


def safe_merge(
    left: Any,
    right: Any,
    on: str | Sequence[str],
    *,
    how: str = "inner",
    validate: Relationship | None = None,
    raise_on_error: bool = True,
) -> Merge:
    """Join ``left`` and ``right`` on ``on``; refuse columns present on both sides.

    polars (like pandas' ``_x``/``_y``) would rename colliding columns silently; here the
    collision is an error that names them. Key multiplicity on each side is reported as a
    relationship (``1:1``, ``1:m``, ``m:1``, ``m:m``); with ``validate`` a broader one fails.
    """
    keys = as_list(on)
    lf, rf = as_frame(left, "left"), as_frame(right, "right")
    for side, frame in (("left", lf), ("right", rf)):
        if absent := [k for k in keys if k not in frame.columns]:
            raise InvalidInput(f"safe_merge: key column(s) {absent} missing from the {side} frame")
    collide = sorted((set(lf.columns) & set(rf.columns)) - set(keys))
    if collide:
        raise InvalidInput(
            f"safe_merge: column(s) {collide} exist on both sides and are not join "
            "keys; rename or drop them before merging (no silent _x/_y suffixes)"
        )
    if validate is not None and validate not in _ALLOWS:
        raise InvalidInput(f"safe_merge: validate must be one of {', '.join(_ALLOWS)}")
    key = pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)
    dup_left = int(lf.select(key.is_duplicated().sum()).item())
    dup_right = int(rf.select(key.is_duplicated().sum()).item())
    relationship = f"{'m' if dup_left else '1'}:{'m' if dup_right else '1'}"
    joined = lf.join(rf, on=keys, how=how, nulls_equal=False)  # type: ignore[arg-type]
    ok = validate is None or relationship in _ALLOWS[validate]
    failed = 0
    if not ok and validate is not None:
        failed = (dup_left if validate[0] == "1" else 0) + (dup_right if validate[2] == "1" else 0)
    result = CheckResult(
        check=f"safe_merge:{','.join(keys)}",
        passed=ok,
        failed_count=failed,
        observed={
            "relationship": relationship,
            "left_duplicate_key_rows": dup_left,
            "right_duplicate_key_rows": dup_right,
            "left_rows": lf.height,
            "right_rows": rf.height,
            "rows": joined.height,
        },
        expected={"relationship": validate} if validate else None,
    )
    if raise_on_error and result.blocking:
        raise CheckFailed(f"safe_merge: {result.summary()}", [result])
    return Merge(joined, result)
