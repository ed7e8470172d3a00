"""Turn whatever a caller hands us into a polars frame.

Checks and stages accept polars DataFrames and LazyFrames, pyarrow tables and batches, and
anything that speaks the Arrow PyCapsule stream protocol (pandas >= 2.2, arro3, duckdb
relations...). pandas itself is never imported unless the caller passed a pandas object.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
from lakeledger.store.errors import InvalidInput

Frame = pl.DataFrame | pl.LazyFrame


def as_polars(data: Any, what: str = "data") -> Frame:
    """A polars DataFrame or LazyFrame for ``data``; LazyFrames stay lazy."""
    if isinstance(data, pl.DataFrame | pl.LazyFrame):
        return data
    if isinstance(data, pa.Table | pa.RecordBatch):
        return _from_arrow(data, what)
    if isinstance(data, pa.RecordBatchReader):
        return _from_arrow(data.read_all(), what)
    if type(data).__module__.split(".")[0] == "pandas":
        try:
            return pl.from_pandas(data)
        except Exception as exc:  # noqa: BLE001 - pandas' own errors vary by version
            raise InvalidInput(f"{what}: cannot convert the pandas object: {exc}") from None
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        try:
            return _from_arrow(pa.table(data), what)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise InvalidInput(f"{what}: the Arrow stream could not be read: {exc}") from None
    raise InvalidInput(
        f"{what}: expected a polars DataFrame/LazyFrame or an Arrow-convertible table, "
        f"got {type(data).__name__}; convert it with pyarrow.table(...) first"
    )


def as_lazy(data: Any, what: str = "data") -> pl.LazyFrame:
    return as_polars(data, what).lazy()


def as_frame(data: Any, what: str = "data") -> pl.DataFrame:
    frame = as_polars(data, what)
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def _from_arrow(table: pa.Table | pa.RecordBatch, what: str) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # a single column comes back as a Series
        frame = frame.to_frame()
    return frame


_SCANNERS = {
    ".parquet": pl.scan_parquet,
    ".csv": pl.scan_csv,
    ".jsonl": pl.scan_ndjson,
    ".ndjson": pl.scan_ndjson,
}


def scan_path(path: str, storage_options: dict[str, str] | None = None) -> pl.LazyFrame:
    """A lazy scan of a Delta table, a Parquet/CSV/JSON Lines file, or a Parquet directory."""
    from lakeledger.store.delta import is_table
    from lakeledger.store.location import Location
    from lakeledger.store.storage import filesystem

    fs, target = filesystem(Location.of(path, storage_options), path)
    if not fs.exists(target):
        raise InvalidInput(f"{path} does not exist; give a data file or a Delta table directory")
    if fs.isdir(target):
        if is_table(path, storage_options):
            return pl.scan_delta(path, storage_options=storage_options)
        if any(p.endswith(".parquet") for p in fs.find(target)):
            return pl.scan_parquet(
                f"{path.rstrip('/')}/**/*.parquet",
                hive_partitioning=True,
                storage_options=storage_options,
            )
        raise InvalidInput(f"{path} is a directory without a Delta log or Parquet files")
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if suffix not in _SCANNERS:
        raise InvalidInput(
            f"{path}: unsupported file type {suffix or '(none)'}; "
            f"give {', '.join(_SCANNERS)} or a Delta table directory"
        )
    return _SCANNERS[suffix](path, storage_options=storage_options)  # type: ignore[operator]
