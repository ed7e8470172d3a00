"""Published tables: each view as a plain Delta table ``<root>/tables/<view>`` for SQL users.

``<root>/views/<view>`` holds reducer state (``_part`` rows, fragments): internal. The published
table holds the rows ``show`` prints, typed (JSON objects such as ``params`` stay JSON text, so
``json_extract`` in DuckDB or ``str.json_path_match`` in polars reads them), one row per entity,
plus ``events_version``: the events version the rows reflect. Refreshing a view republishes it
when the events moved on (one overwrite commit: readers see the old rows or the new, never a
mix). Time-dependent columns (a run ``lost`` after 24 h of silence) are as of that refresh.

``model_stages`` is published too: every stage change with its time, which makes "the registry
as of a past time" a plain SQL query.
"""

from __future__ import annotations

import logging

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from lakeledger.store import Ledger

log = logging.getLogger("lakeledger.projections")

THROUGH = "lakeledger.through"
TABLE_CONFIG: dict[str, str | None] = {
    "delta.checkpointInterval": "20",
    "delta.logRetentionDuration": "interval 7 days",
}


def table_uri(ledger: Ledger, name: str) -> str:
    return ledger.location.join("tables", name)


def published_through(ledger: Ledger, name: str) -> int | None:
    """The events version the published table reflects (None: not published yet)."""
    try:
        table = DeltaTable(table_uri(ledger, name), storage_options=ledger.location.options)
    except TableNotFoundError:
        return None
    for commit in table.history(1):
        value = commit.get(THROUGH) or (commit.get("userMetadata") or {})
        if isinstance(value, str | int):
            return int(value)
    return None


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns Delta can store: all-null columns of unknown type become text."""
    return frame.with_columns(
        [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null]
    )


def publish(ledger: Ledger, name: str, rows: pl.DataFrame, through: int) -> bool:
    """Overwrite ``tables/<name>`` with ``rows`` as of events version ``through``.

    Skipped (False) when the table already reflects ``through`` or later."""
    current = published_through(ledger, name)
    if current is not None and current >= through:
        return False
    frame = _typed(rows).with_columns(events_version=pl.lit(through, pl.Int64))
    write_deltalake(
        table_uri(ledger, name),
        frame.to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=CommitProperties(custom_metadata={THROUGH: str(through)}),
        storage_options=ledger.location.options,
        configuration=TABLE_CONFIG,
    )
    return True
