"""CSV files and globs, incremental by new files and, optionally, by a cursor column.

Each file is known by path and SHA-256. A file seen before is skipped; one that only grew (the
old content is a prefix) is read from where it ended; any other change is read again in full.
With ``cursor = "column"``, rows at or below the highest cursor of earlier runs are skipped too.
Rows are streamed in ``batch_rows`` chunks (polars streaming engine), never a whole file.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
import polars as pl

from ..schema import ORIGIN, ROW, cast_text
from .base import Batch, Source, SourceError

_CHUNK = 1 << 20


class CsvOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str | list[str]
    delimiter: str = ","
    encoding: str = "utf8"
    has_header: bool = True
    null_values: list[str] = []
    quote_char: str | None = '"'


class CsvSource(Source):
    kind = "csv"
    Options = CsvOptions

    def files(self) -> list[str]:
        patterns = [self.options.path] if isinstance(self.options.path, str) else self.options.path
        found: set[str] = set()
        for pattern in patterns:
            full = self.context.path(pattern)
            matches = glob.glob(full, recursive=True) if glob.has_magic(full) else [full]
            if not glob.has_magic(full) and not os.path.exists(full):
                raise SourceError(f"CSV file {full} does not exist; check options.path")
            found.update(m for m in matches if os.path.isfile(m))
        return sorted(found)

    def batches(self, cursor: Any) -> Iterator[Batch]:
        state = _State.of(cursor)
        for path in self.files():
            seen = state.files.get(path)
            digest, size, prefix = _digest(path, seen[2] if seen else None)
            if seen and seen[0] == digest:
                continue
            # resume inside this very file, or after the part of it read before it grew
            skip = 0
            if state.partial and state.partial[:2] == [path, digest]:
                skip = int(state.partial[2])
            elif seen and prefix == seen[0]:
                skip = int(seen[1])
            yield from self._file(path, digest, size, skip, state)

    def finish(self, cursor: Any) -> Any:
        """The cursor a completed run leaves: later runs skip rows at or below its maximum."""
        state = _State.of(cursor)
        state.base = state.top
        return state.encode()

    def _file(self, path: str, digest: str, size: int, skip: int, state: _State) -> Iterator[Batch]:
        source = self._utf8(path)
        try:
            frame = pl.scan_csv(
                source,
                separator=self.options.delimiter,
                has_header=self.options.has_header,
                infer_schema=False,
                null_values=self.options.null_values or None,
                quote_char=self.options.quote_char,
                skip_rows_after_header=skip,
                row_index_name=ROW,
                row_index_offset=skip + 1,
                raise_if_empty=False,
                encoding="utf8-lossy" if self.options.encoding.lower() == "utf8-lossy" else "utf8",
            ).with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(path).alias(ORIGIN))
            rows = skip
            pending: pl.DataFrame | None = None
            for chunk in frame.collect_batches(chunk_size=self.config.batch_rows):
                if pending is not None:
                    rows += pending.height
                    yield self._batch(pending, path, digest, rows, state, last=False, size=0)
                pending = chunk
            rows += pending.height if pending is not None else 0
            yield self._batch(pending, path, digest, rows, state, last=True, size=size)
        except pl.exceptions.PolarsError as exc:
            raise SourceError(f"cannot read CSV {path}: {exc}") from None
        finally:
            if source != path:
                os.unlink(source)

    def _batch(
        self,
        chunk: pl.DataFrame | None,
        path: str,
        digest: str,
        rows: int,
        state: _State,
        *,
        last: bool,
        size: int,
    ) -> Batch:
        chunk = (
            chunk if chunk is not None else pl.DataFrame(schema={ROW: pl.Int64, ORIGIN: pl.String})
        )
        skipped = 0
        if self.config.cursor and chunk.height:
            kind = next(c.kind for c in self.schema.columns if c.name == self.config.cursor)
            value = (
                cast_text(pl.col(self.config.cursor), kind)
                if self.config.cursor in chunk.columns
                else pl.lit(None)
            )
            if state.base is not None:
                keep = value.is_null() | (value > cast_text(pl.lit(str(state.base)), kind))
                before = chunk.height
                chunk = chunk.filter(keep)
                skipped = before - chunk.height
            top = chunk.select(value.max()).item() if chunk.height else None
            if top is not None:
                top_text = top.isoformat() if hasattr(top, "isoformat") else top
                if state.top is None or _greater(top_text, state.top, kind):
                    state.top = top_text
        if last:
            state.files[path] = [digest, rows, size]
            state.partial = None
        else:
            state.partial = [path, digest, rows]
        return Batch(cursor=state.encode(), origin=path, frame=chunk, bytes=size, skipped=skipped)

    def _utf8(self, path: str) -> str:
        """polars reads UTF-8; other encodings are transcoded, streaming, to a temporary file."""
        encoding = self.options.encoding.lower().replace("-", "")
        if encoding in ("utf8", "utf8lossy"):
            return path
        try:
            decoder = codecs.getincrementaldecoder(self.options.encoding)(errors="strict")
        except LookupError:
            raise SourceError(f"unknown encoding {self.options.encoding!r} for {path}") from None
        fd, temp = tempfile.mkstemp(suffix=".csv")
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while block := src.read(_CHUNK):
                    dst.write(decoder.decode(block).encode())
                dst.write(decoder.decode(b"", final=True).encode())
        except UnicodeDecodeError as exc:
            os.unlink(temp)
            raise SourceError(
                f"{path} is not valid {self.options.encoding}: {exc}; "
                "set options.encoding to the file's encoding"
            ) from None
        return temp


class _State(msgspec.Struct, kw_only=True):
    files: dict[str, list[Any]] = {}  # path -> [sha256, rows, bytes]
    partial: list[Any] | None = None  # [path, sha256, rows read] while inside a file
    base: Any = None  # highest cursor value of completed runs (filters rows)
    top: Any = None  # highest cursor value read so far

    @classmethod
    def of(cls, cursor: Any) -> _State:
        return msgspec.convert(cursor, cls) if cursor else cls()

    def encode(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def _greater(a: Any, b: Any, kind: str) -> bool:
    if kind == "datetime":
        return datetime.fromisoformat(str(a)) > datetime.fromisoformat(str(b))
    return bool(a > b)


def _digest(path: str, prefix_size: int | None) -> tuple[str, int, str | None]:
    """SHA-256 of the file, its size, and the digest of its first ``prefix_size`` bytes."""
    sha = hashlib.sha256()
    prefix: str | None = None
    size = 0
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            if prefix_size is not None and prefix is None and size + len(block) >= prefix_size:
                head = sha.copy()
                head.update(block[: prefix_size - size])
                prefix = head.hexdigest()
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size, prefix
