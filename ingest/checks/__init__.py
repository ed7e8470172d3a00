"""Checks: boundary assertions, quality checks, drift, suites and schema/stats metadata.

Every check returns a ``CheckResult`` that can be recorded as a ``validation.recorded``
event; a ``Suite`` runs many checks in one pass over the data.
"""

from lakeledger.ingest.checks.boundary import (
    HasColumns,
    Leak,
    Merge,
    NoNulls,
    TemporalBoundary,
    UniqueKey,
    check_leak,
    has_columns,
    no_nulls,
    safe_merge,
    unique_key,
)
from lakeledger.ingest.checks.check import Check, Plan
from lakeledger.ingest.checks.contract import Contract
from lakeledger.ingest.checks.drift import KS, PSI
from lakeledger.ingest.checks.frames import as_frame, as_lazy, as_polars, scan_path
from lakeledger.ingest.checks.metadata import (
    read_schema_file,
    schema_of,
    stats_of,
    validate_schema_file,
    write_metadata,
)
from lakeledger.ingest.checks.quality import (
    Categories,
    Completeness,
    Freshness,
    Range,
    RowCount,
    Schema,
    Uniqueness,
)
from lakeledger.ingest.checks.result import CheckFailed, CheckResult
from lakeledger.ingest.checks.suite import Report, Suite

__all__ = [
    "KS",
    "PSI",
    "Categories",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Completeness",
    "Contract",
    "Freshness",
    "HasColumns",
    "Leak",
    "Merge",
    "NoNulls",
    "Plan",
    "Range",
    "Report",
    "RowCount",
    "Schema",
    "Suite",
    "TemporalBoundary",
    "UniqueKey",
    "Uniqueness",
    "as_frame",
    "as_lazy",
    "as_polars",
    "check_leak",
    "has_columns",
    "no_nulls",
    "read_schema_file",
    "safe_merge",
    "scan_path",
    "schema_of",
    "stats_of",
    "unique_key",
    "validate_schema_file",
    "write_metadata",
]
