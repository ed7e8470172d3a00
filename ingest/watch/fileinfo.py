"""Facts about one landed file or Delta table: rows, bytes, checksum, schema.

Nothing is decoded that does not have to be: Parquet rows and schema come from the footer,
CSV rows are counted by a streaming reader (all columns read as text, so only malformed
records fail), Delta tables are described by their log (add actions and metadata). The
checksum is SHA-256 over the bytes (for Delta: over the table's current file list), so a
changed file is a new observation and an unchanged one is recognised after a restart.
"""

from __future__ import annotations

import hashlib
import os
from typing import Literal

import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from lakeledger.ingest.watch.layout import DELTA_LOG
from lakeledger.store.errors import LedgerError
from lakeledger.store.schema import DatasetSchema

Format = Literal["parquet", "csv", "delta"]
_CHUNK = 1 << 20
_PARQUET_MAGIC = b"PAR1"


class UnreadableFile(LedgerError):
    """A landed file cannot be read as what its name says (corrupt, truncated, wrong format)."""

    def __init__(
        self, path: str, reason: str, checksum: str | None = None, size: int | None = None
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.checksum = checksum
        self.size = size


class IncompleteFile(UnreadableFile):
    """Looks unfinished (empty, or a Parquet file without its footer yet): wait, then report."""


class FileInfo(msgspec.Struct, frozen=True, kw_only=True):
    format: Format
    rows: int | None
    bytes: int
    checksum: str
    schema: DatasetSchema

    @property
    def schema_hash(self) -> str:
        return self.schema.hash
    types_reliable: bool = True  # CSV types are inferred from the first block only


def format_of(path: str) -> Format | None:
    if os.path.isdir(os.path.join(path, DELTA_LOG)):
        return "delta"
    lower = path.lower()
    if lower.endswith((".parquet", ".parq", ".pq")):
        return "parquet"
    if lower.endswith(".csv"):
        return "csv"
    return None


def inspect(path: str) -> FileInfo:
    """Describe the file or Delta table at ``path``.

    Raises ``IncompleteFile``/``UnreadableFile`` (with the checksum when one could be taken),
    or ``FileNotFoundError`` when it vanished meanwhile.
    """
    fmt = format_of(path)
    if fmt == "delta":
        return _delta(path)
    if fmt == "parquet":
        return _parquet(path)
    if fmt == "csv":
        return _csv(path)
    raise UnreadableFile(path, "not a Parquet or CSV file, nor a Delta table directory")


def file_digest(path: str) -> tuple[str, int, bytes, bytes]:
    """SHA-256, size, first 4 and last 4 bytes, in one streaming pass."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if not head:
                head = chunk[:4]
            size += len(chunk)
            digest.update(chunk)
            tail = (tail + chunk)[-4:]
    return "sha256:" + digest.hexdigest(), size, head, tail


def _parquet(path: str) -> FileInfo:
    checksum, size, head, tail = file_digest(path)
    if size == 0:
        raise IncompleteFile(path, "file is empty", checksum, size)
    if head != _PARQUET_MAGIC[: len(head)]:
        raise UnreadableFile(path, "not a Parquet file (no PAR1 header)", checksum, size)
    if size < 12 or tail != _PARQUET_MAGIC:
        raise IncompleteFile(path, "Parquet file has no footer (truncated or still being written)",
                             checksum, size)
    try:
        meta = pq.read_metadata(path)
        schema = DatasetSchema.from_arrow(meta.schema.to_arrow_schema())
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise UnreadableFile(path, f"corrupt Parquet footer: {exc}", checksum, size) from None
    return FileInfo(format="parquet", rows=meta.num_rows, bytes=size, checksum=checksum,
                    schema=schema)


def _csv(path: str) -> FileInfo:
    checksum, size, _, _ = file_digest(path)
    if size == 0:
        raise IncompleteFile(path, "file is empty", checksum, size)
    try:
        inferred = pacsv.open_csv(path).schema  # types from the first block
        as_text = pacsv.ConvertOptions(column_types={name: pa.string() for name in inferred.names})
        rows = 0
        with pacsv.open_csv(path, convert_options=as_text) as reader:
            for batch in reader:
                rows += batch.num_rows
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise UnreadableFile(path, f"malformed CSV: {exc}", checksum, size) from None
    return FileInfo(format="csv", rows=rows, bytes=size, checksum=checksum,
                    schema=DatasetSchema.from_arrow(inferred), types_reliable=False)


def _delta(path: str) -> FileInfo:
    from lakeledger.store.delta import TableMissing, add_actions, load

    try:
        table = load(path)
        actions = add_actions(table)
        schema = DatasetSchema.from_arrow(pa.schema(table.schema().to_arrow()))
    except TableMissing:
        raise IncompleteFile(path, "Delta table has no commit yet") from None
    except Exception as exc:  # noqa: BLE001 - any failure to open a Delta dir is judged below
        if not os.path.isdir(path):
            raise FileNotFoundError(path) from None
        raise UnreadableFile(path, f"unreadable Delta table: {exc}") from None
    files = sorted(zip(actions["path"].to_list(), actions["size_bytes"].to_list(), strict=True))
    has_counts = "num_records" in actions.columns
    records = actions["num_records"].to_list() if has_counts else [None]
    rows = None if any(r is None for r in records) else int(sum(records))
    checksum = "sha256:" + hashlib.sha256(msgspec.json.encode(files)).hexdigest()
    return FileInfo(format="delta", rows=rows, bytes=int(sum(s for _, s in files)),
                    checksum=checksum, schema=schema)
