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
from typing import Any, BinaryIO

import fsspec
import msgspec
import polars as pl
from lakeledger.ingest.extract.records import ORIGIN, ROW, cast_text
from lakeledger.ingest.extract.sources.base import Batch, Source, SourceError
from lakeledger.store.location import Location, is_uri
from lakeledger.store.storage import filesystem

_CHUNK = 1 << 20


class CsvOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str | list[str]
    delimiter: str = ","
    encoding: str = "utf8"
    has_header: bool = True
    null_values: list[str] = []
    quote_char: str | None = '"'
    storage_options: dict[str, str] = {}  # for s3://... paths (delta-rs style AWS_* keys)


class CsvSource(Source):
    kind = "csv"
    Options = CsvOptions

    def files(self) -> list[str]:
        patterns = [self.options.path] if isinstance(self.options.path, str) else self.options.path
        found: set[str] = set()
        for pattern in patterns:
            full = self.context.path(pattern)
            fs, where = self._fs(full)
            prefix = full.split("://", 1)[0] + "://" if is_uri(full) else ""
            try:
                fs.invalidate_cache()  # fsspec caches listings per process: files keep landing
                if glob.has_magic(where):
                    matches = fs.glob(where) if prefix else glob.glob(where, recursive=True)
                elif not fs.exists(where):
                    raise SourceError(f"CSV file {full} does not exist; check options.path")
                else:
                    matches = [where]
                found.update(prefix + m for m in matches if fs.isfile(m))
            except OSError as exc:
                raise SourceError(f"cannot list {full}: {exc}") from None
        return sorted(found)

    def _fs(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        """Local files, or any fsspec URL (``s3://...``) with ``options.storage_options``."""
        return filesystem(Location.of(path, self.options.storage_options), path)

    def _open(self, path: str) -> BinaryIO:
        fs, where = self._fs(path)
        return fs.open(where, "rb")  # type: ignore[no-any-return]

    def batches(self, cursor: Any) -> Iterator[Batch]:
        state = _State.of(cursor)
        plan = []
        for path in self.files():
            seen = state.files.get(path)
            digest, size, prefix = _digest(self._open(path), seen[2] if seen else None)
            if seen and seen[0] == digest:
                continue
            # resume inside this very file, or after the part of it read before it grew
            skip = (0, 0, 0)  # rows read, where to restart in the UTF-8 text, rows to drop there
            if state.partial and state.partial[:2] == [path, digest]:
                skip = (int(state.partial[2]), int(state.partial[3]), int(state.partial[4]))
            elif seen and prefix == seen[0]:
                skip = (int(seen[1]), int(seen[3]), 0)
            plan.append((path, digest, size, skip))
        self._total = max(1, sum(size - skip[1] for _, _, size, skip in plan))
        self._done = 0
        for path, digest, size, skip in plan:
            self._start = skip[1]
            yield from self._file(path, digest, size, skip, state)
            self._done += size - skip[1]

    def finish(self, cursor: Any) -> Any:
        """The cursor a completed run leaves: later runs skip rows at or below its maximum."""
        state = _State.of(cursor)
        state.base = state.top
        return state.encode()

    def _file(
        self, path: str, digest: str, size: int, skip: tuple[int, int, int], state: _State
    ) -> Iterator[Batch]:
        """Batches of exactly ``batch_rows`` rows (the last may be shorter). ``skip`` is
        (rows already read, byte offset of the piece to restart from, rows to drop there)."""
        source = self._utf8(path)
        rows, start, drop = skip
        want = self.config.batch_rows
        try:
            held: list[pl.DataFrame] = []
            held_rows = 0
            pending: tuple[pl.DataFrame, tuple[int, int]] | None = None
            for header, body, begin, end in _chunks(self._open(source), start, self.options, want):
                frame = self._parse(header + body, path)
                pos, drop = drop, 0
                while pos < frame.height:
                    take = min(want - held_rows, frame.height - pos)
                    held.append(frame.slice(pos, take))
                    held_rows, pos = held_rows + take, pos + take
                    if held_rows < want:
                        break
                    if pending is not None:
                        rows = yield from self._emit(pending, rows, path, digest, state, None)
                    resume = (end, 0) if pos == frame.height else (begin, pos)
                    pending, held, held_rows = (pl.concat(held), resume), [], 0
            if held_rows or pending is None:
                if pending is not None:
                    rows = yield from self._emit(pending, rows, path, digest, state, None)
                tail = pl.concat(held) if held else None
                fs, where = self._fs(source)
                pending = (tail, (fs.size(where), 0))  # type: ignore[assignment]
            yield from self._emit(pending, rows, path, digest, state, size)
        except pl.exceptions.PolarsError as exc:
            raise SourceError(f"cannot read CSV {path}: {exc}") from None
        finally:
            if source != path:
                os.unlink(source)

    def _emit(
        self,
        pending: tuple[pl.DataFrame | None, tuple[int, int]],
        rows: int,
        path: str,
        digest: str,
        state: _State,
        size: int | None,
    ) -> Iterator[Batch]:
        frame, resume = pending
        if frame is not None:
            index = pl.int_range(rows + 1, rows + 1 + frame.height, dtype=pl.Int64)
            frame = frame.with_columns(index.alias(ROW))
            rows += frame.height
        yield self._batch(frame, path, digest, rows, state, size, resume)
        return rows

    def _parse(self, data: bytes, path: str) -> pl.DataFrame:
        o = self.options
        frame = pl.read_csv(
            data,
            separator=o.delimiter,
            has_header=o.has_header,
            infer_schema=False,
            null_values=o.null_values or None,
            quote_char=o.quote_char,
            raise_if_empty=False,
            encoding="utf8-lossy" if o.encoding.lower() == "utf8-lossy" else "utf8",
        )
        return frame.with_columns(pl.lit(path).alias(ORIGIN))

    def _batch(
        self,
        chunk: pl.DataFrame | None,
        path: str,
        digest: str,
        rows: int,
        state: _State,
        size: int | None,
        resume: tuple[int, int],
    ) -> Batch:
        """``size`` is given for the file's last batch; ``resume``: where the next one starts."""
        chunk = chunk if chunk is not None else pl.DataFrame(schema={ROW: pl.Int64, ORIGIN: pl.String})
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
        if size is not None:
            state.files[path] = [digest, rows, size, resume[0]]
            state.partial = None
        else:
            state.partial = [path, digest, rows, *resume]
        done = self._done + (size - self._start if size is not None else resume[0] - self._start)
        return Batch(
            cursor=state.encode(),
            origin=path,
            frame=chunk,
            bytes=size or 0,
            skipped=skipped,
            done=min(1.0, done / self._total),
        )

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
            with self._open(path) as src, os.fdopen(fd, "wb") as dst:
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
    files: dict[str, list[Any]] = {}  # path -> [sha256, rows, bytes, bytes of UTF-8 text]
    # inside a file: [path, sha256, rows read, UTF-8 offset of a piece, rows to drop there]
    partial: list[Any] | None = None
    base: Any = None  # highest cursor value of completed runs (filters rows)
    top: Any = None  # highest cursor value read so far

    @classmethod
    def of(cls, cursor: Any) -> _State:
        return msgspec.convert(cursor, cls) if cursor else cls()

    def encode(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def _chunks(
    file: BinaryIO, start: int, options: CsvOptions, rows: int
) -> Iterator[tuple[bytes, bytes, int, int]]:
    """(header, complete rows, start, end) pieces of about ``rows`` rows from byte ``start``.

    Reading by byte ranges keeps memory to one batch whatever the file size (polars' own
    batched reader reads ahead without bound when its consumer is slower). A piece ends at a
    newline outside quotes: an even number of quote characters before it.
    """
    quote = options.quote_char.encode() if options.quote_char else None
    with file as f:
        header = f.readline() if options.has_header else b""
        offset = max(start, f.tell())
        f.seek(offset)
        per_row = 100.0
        carry = b""
        while True:
            block = f.read(max(1 << 16, int(rows * per_row) - len(carry)))
            data = carry + block
            if not block:
                if data.strip():
                    yield header, data, offset, offset + len(data)
                return
            cut = _row_end(data, quote)
            if cut is None:  # not one complete row yet
                carry = data
                continue
            body, carry = data[:cut], data[cut:]
            per_row = max(1.0, len(body) / max(1, body.count(b"\n")))
            yield header, body, offset, offset + cut
            offset += cut


def _row_end(data: bytes, quote: bytes | None) -> int | None:
    pos = data.rfind(b"\n")
    while pos >= 0:
        if quote is None or data.count(quote, 0, pos) % 2 == 0:
            return pos + 1
        pos = data.rfind(b"\n", 0, pos)
    return None


def _greater(a: Any, b: Any, kind: str) -> bool:
    if kind == "datetime":
        return datetime.fromisoformat(str(a)) > datetime.fromisoformat(str(b))
    return bool(a > b)


def _digest(file: BinaryIO, prefix_size: int | None) -> tuple[str, int, str | None]:
    """SHA-256 of the file, its size, and the digest of its first ``prefix_size`` bytes."""
    sha = hashlib.sha256()
    prefix: str | None = None
    size = 0
    with file as f:
        while block := f.read(_CHUNK):
            if prefix_size is not None and prefix is None and size + len(block) >= prefix_size:
                head = sha.copy()
                head.update(block[: prefix_size - size])
                prefix = head.hexdigest()
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size, prefix
