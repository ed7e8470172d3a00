"""What every source kind provides: options, a record schema, and batches with a cursor.

A source never writes anything. It yields ``Batch``es, each carrying the cursor state *after*
it; the runner commits the batch to bronze and then checkpoints that cursor, so a source only
has to be able to start again from any cursor it produced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import msgspec
import polars as pl
from lakeledger.ingest.extract.records import RecordSchema
from lakeledger.ingest.extract.secrets import Secrets
from lakeledger.store.errors import LedgerError

if TYPE_CHECKING:
    from lakeledger.ingest.extract.config import SourceConfig


class SourceError(LedgerError):
    """A source failed (unreachable API, unreadable file...) after its retries."""


class NoOptions(msgspec.Struct, forbid_unknown_fields=True):
    pass


@dataclass
class Batch:
    """Rows read from a source: text columns in ``frame`` or JSON ``records``, not both.

    ``frame`` carries ``_origin`` (file, URL) and ``_row`` (record number there) columns.
    """

    cursor: Any
    origin: str
    frame: pl.DataFrame | None = None
    records: list[Any] | None = None
    first_row: int = 0
    bytes: int = 0
    skipped: int = 0  # rows read but already ingested by an earlier run (cursor filter)
    done: float | None = None  # share of this run's work done after the batch, when known
    # the batch goes on in the next one: the runner commits them together, with the last cursor
    # (a source sends a big batch in parts so that its rows are checked as they come)
    more: bool = False

    @property
    def rows(self) -> int:
        if self.frame is not None:
            return self.frame.height
        return len(self.records or [])


@dataclass
class Context:
    """Where relative paths start, where to keep samples, which values to mask."""

    base_dir: str = "."
    samples_dir: str | None = None
    secrets: Secrets = field(default_factory=Secrets)

    def path(self, path: str) -> str:
        path = os.path.expanduser(path)
        return path if os.path.isabs(path) or "://" in path else os.path.join(self.base_dir, path)

    def redact(self, message: str) -> str:
        return self.secrets.text(message)


class Source:
    """Base class of source kinds. Subclass, set ``kind`` and ``Options``, write ``batches``."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type[msgspec.Struct]] = NoOptions
    default_schema: ClassVar[type[msgspec.Struct] | None] = None
    uses_cursor_field: ClassVar[bool] = True  # does ``cursor = "column"`` mean anything here?
    # how a rejected record is known when a resumed run meets it again (see quarantine.py):
    # by "position" (origin + row number + content) or by "content" alone
    record_identity: ClassVar[Literal["position", "content"]] = "position"
    # may the next batch be read while the previous one is written? Then a killed run has read
    # one batch it never committed (read again on resume): free for files, not for a paid API
    read_ahead: ClassVar[bool] = False

    def __init__(self, config: SourceConfig, options: Any, schema: RecordSchema, context: Context) -> None:
        self.config = config
        self.options = options
        self.schema = schema
        self.context = context
        self.stop_reason: str | None = None  # set when the source stopped early on purpose

    def batches(self, cursor: Any) -> Iterator[Batch]:
        """Yield batches after ``cursor`` (``None``: from the beginning)."""
        raise NotImplementedError

    def finish(self, cursor: Any) -> Any:
        """The cursor to keep once every batch is committed (default: the last one as is)."""
        return cursor
