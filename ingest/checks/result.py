"""The outcome of one check, and how it becomes a ``validation.recorded`` event.

Every check returns the same shape, so a stage, a CLI or a notebook can treat a schema check
and a drift check alike: did it pass, what was seen, what was expected, how many rows failed,
and a few failing rows to look at.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import polars as pl
from lakeledger.store.errors import LedgerError

if TYPE_CHECKING:
    from lakeledger.store import Ledger
    from lakeledger.store.events import ValidationRecorded

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


class CheckFailed(LedgerError):
    """A check of severity ``error`` failed: the data breaks its contract (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, results: list[CheckResult] | None = None) -> None:
        super().__init__(message)
        self.results = results or []


class CheckResult(msgspec.Struct, kw_only=True):
    """One check's verdict. ``failed_count`` is None where rows do not apply (drift, schema)."""

    check: str
    passed: bool
    severity: Severity = "error"
    observed: Any = None
    expected: Any = None
    failed_count: int | None = None
    sample: list[dict[str, Any]] = []
    details: dict[str, Any] = {}

    @property
    def blocking(self) -> bool:
        """True when this result must stop a pipeline (failed with severity ``error``)."""
        return not self.passed and self.severity == "error"

    def raise_if_blocking(self, target: str = "data") -> CheckResult:
        if self.blocking:
            raise CheckFailed(f"{target}: {self.summary()}", [self])
        return self

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = f"{self.check} {verdict}"
        if self.failed_count:
            text += f" ({self.failed_count} failing)"
        if not self.passed:
            text += f": observed {_short(self.observed)}, expected {_short(self.expected)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return jsonable(msgspec.structs.asdict(self))

    def record(self, ledger: Ledger, target: str, run_id: str | None = None) -> ValidationRecorded:
        """Append this result as a ``validation.recorded`` event on ``validation/<target>``."""
        return ledger.record_validation(
            target, self.check, self.passed, **self.event_fields(run_id)
        )

    def event_fields(self, run_id: str | None = None) -> dict[str, Any]:
        details = jsonable({**self.details, "sample": self.sample} if self.sample else self.details)
        return {
            "severity": self.severity,
            "observed": jsonable(self.observed),
            "expected": jsonable(self.expected),
            "failed_count": self.failed_count,
            "details": details or None,
            "run_id": run_id,
        }


def jsonable(value: Any) -> Any:
    """Plain JSON values (times as ISO strings, decimals as floats) for events and reports."""
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _short(value: Any, width: int = 120) -> str:
    text = msgspec.json.encode(jsonable(value)).decode()
    return text if len(text) <= width else text[: width - 1] + "…"
