"""CSV files and globs, incremental by new files and, optionally, by a cursor column.

Each file is known by path and SHA-256. A file seen before is skipped; one that only grew (the
old content is a prefix) is read from where it ended, also when a run was killed inside it (the
cursor keeps the hash of the prefix it committed); any other change is read again in full, as a
new version of the file. With ``cursor = "column"``, rows at or below the highest cursor of earlier
runs are skipped too. Rows are streamed in batches of ``batch_rows`` rows and at most
``max_batch_bytes`` of text, never a whole file; a row of the wrong width, or a record longer than
``max_line_bytes``, goes to quarantine with its line number.
"""

from __future__ import annotations

import codecs
import glob
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, BinaryIO

import fsspec
import msgspec
import polars as pl
from lakeledger.ingest.extract.casts import cast_text
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.ingest.extract.sources.base import Batch, Source, SourceError
from lakeledger.ingest.extract.sources.csv_pieces import Piece, digest, pieces, ragged
from lakeledger.store.location import Location, is_uri
from lakeledger.store.storage import filesystem

_CHUNK = 1 << 20
_PIECE_ROWS = 1 << 16  # rows parsed at once: a batch is assembled from pieces of about this many
# a batch's rows go out in parts of at least this many (``Batch.more``): the runner checks each
# part as it comes and commits the batch once, so a batch's text is never all held at once
_PART_ROWS = 1 << 15
_EXTRA = "__lakeledger_extra"  # one column past the header: a wider row shows there


class CsvOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str | list[str]
    delimiter: str = ","
    encoding: str = "utf8"
    has_header: bool = True
    null_values: list[str] = []
    quote_char: str | None = '"'
    storage_options: dict[str, str] = {}  # for s3://... paths (delta-rs style AWS_* keys)
    max_batch_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 << 20  # a batch ends here or at batch_rows
    max_line_bytes: Annotated[int, msgspec.Meta(gt=0)] = 16 << 20  # a longer record: quarantined


class CsvSource(Source):
    kind = "csv"
    Options = CsvOptions
    read_ahead = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._columns: list[str] | None = None

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
            partial = state.partial if state.partial and state.partial[0] == path else None
            # the old version's size: is its content still the start of this file?
            old_size = partial[5] if partial and len(partial) > 5 else (seen[2] if seen else None)
            whole, size, prefix = digest(self._open(path), old_size)
            if seen and seen[0] == whole:
                continue
            # resume inside this very file (also after it grew: the version read then is still
            # its start), or after the part of it read before it grew; else read a new version
            skip = (0, 0, 0)  # rows read, where to restart in the UTF-8 text, rows to drop there
            if partial and (partial[1] == whole or (len(partial) > 5 and prefix == partial[1])):
                skip = (int(partial[2]), int(partial[3]), int(partial[4]))
            elif seen and not partial and prefix == seen[0]:
                skip = (int(seen[1]), int(seen[3]), 0)
            plan.append((path, whole, size, skip))
        self._total = max(1, sum(size - skip[1] for _, _, size, skip in plan))
        self._done = 0
        for path, whole, size, skip in plan:
            self._start = skip[1]
            yield from self._file(path, whole, size, skip, state)
            self._done += size - skip[1]

    def finish(self, cursor: Any) -> Any:
        """The cursor a completed run leaves: later runs skip rows at or below its maximum."""
        state = _State.of(cursor)
        state.base = state.top
        return state.encode()

    def _file(
        self, path: str, digest: str, size: int, skip: tuple[int, int, int], state: _State
    ) -> Iterator[Batch]:
        """Batches of ``batch_rows`` rows (fewer when ``max_batch_bytes`` of text come first; the
        last may be shorter) of the file's first ``size`` bytes, the version ``digest`` names
        (a logger appending meanwhile is read next run). ``skip``: (rows already read, offset of
        the piece to restart from, rows to drop there)."""
        source = self._utf8(path, size)
        rows, start, drop = skip
        self._size = size
        o, want = self.options, self.config.batch_rows
        quote = o.quote_char.encode() if o.quote_char else None
        try:
            held: list[pl.DataFrame] = []  # rows of the batch not yet sent out as a part
            held_rows, held_bytes, end = 0, 0, start  # rows and bytes of the whole batch
            # the batch waiting to be emitted (at most one); ``_emit`` takes it out, so that once
            # emitted the consumer holds the only reference to its rows
            pending: list[tuple[pl.DataFrame | None, tuple[int, int]]] = []
            text_end = size if source == path else os.path.getsize(source)
            read = pieces(self._open(source), start, rows=min(want, _PIECE_ROWS), quote=quote,
                          max_line=o.max_line_bytes, header=o.has_header,
                          limit=size if source == path else None)
            for piece in read:
                frame = self._parse(piece, path)
                per_row = (piece.end - piece.begin) / max(1, frame.height)
                # rows to drop at a resume point may span pieces (pieces are cut differently then)
                pos, drop, end = min(drop, frame.height), max(0, drop - frame.height), piece.end
                while pos < frame.height:
                    room = want - held_rows  # rows the batch still takes, and bytes of text
                    if per_row > 0:
                        room = min(room, max(1, int((o.max_batch_bytes - held_bytes) / per_row)))
                    take = min(room, frame.height - pos)
                    held.append(frame.slice(pos, take))
                    held_rows, held_bytes, pos = held_rows + take, held_bytes + take * per_row, pos + take
                    if take < room:  # the piece is used up, the batch is not full
                        loose = sum(h.height for h in held)
                        if loose >= _PART_ROWS and piece.end != text_end:  # a part; the rest follows
                            if pending:
                                rows = yield from self._emit(pending, rows, path, digest, state, None)
                            part = pl.concat(held, how="diagonal_relaxed", rechunk=False)
                            pending.append((part, (piece.end, 0)))
                            held = []
                            del part
                            rows = yield from self._emit(pending, rows, path, digest, state, None, more=True)
                        break
                    if pending:
                        rows = yield from self._emit(pending, rows, path, digest, state, None)
                    at = (piece.end, 0) if pos == frame.height else (piece.begin, pos)
                    pending.append((pl.concat(held, how="diagonal_relaxed", rechunk=False), at))
                    held, held_rows, held_bytes = [], 0, 0
                    if at != (text_end, 0):  # more text follows: not the file's last batch, out now
                        rows = yield from self._emit(pending, rows, path, digest, state, None)
            if held_rows or not pending:
                if pending:
                    rows = yield from self._emit(pending, rows, path, digest, state, None)
                last = pl.concat(held, how="diagonal_relaxed", rechunk=False) if held else None
                pending.append((last, (end, 0)))
                del last
                held = []
            yield from self._emit(pending, rows, path, digest, state, size)
        except pl.exceptions.PolarsError as exc:
            raise SourceError(f"cannot read CSV {path}: {exc}") from None
        finally:
            if source != path:
                os.unlink(source)

    def _emit(
        self,
        pending: list[tuple[pl.DataFrame | None, tuple[int, int]]],
        rows: int,
        path: str,
        digest: str,
        state: _State,
        size: int | None,
        more: bool = False,
    ) -> Iterator[Batch]:
        frame, resume = pending.pop()
        if frame is not None:
            index = pl.int_range(rows + 1, rows + 1 + frame.height, dtype=pl.Int64)
            frame = frame.with_columns(index.alias(ROW))
            rows += frame.height
        batch = self._batch(frame, path, digest, rows, state, size, resume)
        batch.more = more
        del frame  # the batch is the only holder of its rows: the consumer frees them once checked
        yield batch
        return rows

    def _parse(self, piece: Piece, path: str) -> pl.DataFrame:
        """Text columns named by the header; a record of another width, or one longer than
        ``max_line_bytes``, comes with ``_raw`` and ``_reason`` set (the runner quarantines it)."""
        o = self.options
        names = self._names(piece)
        if piece.body is None:
            reason = f"line {piece.line}: longer than options.max_line_bytes ({o.max_line_bytes} bytes)"
            cells: dict[str, list[str | None]] = {n: [None] for n in names}
            cells.update({RAW: [piece.head.decode(errors="replace") + "..."], REASON: [reason]})
            schema = {**dict.fromkeys(names, pl.String), RAW: pl.String, REASON: pl.String}
            frame = pl.DataFrame(cells, schema=schema)
            return frame.with_columns(pl.lit(path).alias(ORIGIN))
        frame = pl.read_csv(
            piece.body,
            has_header=False,
            schema={**dict.fromkeys(names, pl.String), _EXTRA: pl.String},
            missing_columns="insert",
            truncate_ragged_lines=True,
            **self._read_options(),
        )
        return ragged(frame, names, _EXTRA, piece, o).with_columns(pl.lit(path).alias(ORIGIN))

    def _names(self, piece: Piece) -> list[str]:
        """The header's column names as polars reads them (``column_1``.. without a header)."""
        if self._columns is None:
            data = piece.header if self.options.has_header else (piece.body or b"").split(b"\n", 1)[0]
            frame = pl.read_csv(data + b"\n", has_header=self.options.has_header, **self._read_options())
            self._columns = frame.columns
        return self._columns

    def _read_options(self) -> dict[str, Any]:
        o = self.options
        return {
            "separator": o.delimiter,
            "infer_schema": False,
            "null_values": o.null_values or None,
            "quote_char": o.quote_char,
            "raise_if_empty": False,
            "encoding": "utf8-lossy" if o.encoding.lower() == "utf8-lossy" else "utf8",
        }

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
            state.partial = [path, digest, rows, *resume, self._size]
        done = self._done + (size - self._start if size is not None else resume[0] - self._start)
        return Batch(
            cursor=state.encode(),
            origin=path,
            frame=chunk,
            bytes=size or 0,
            skipped=skipped,
            done=min(1.0, done / self._total),
        )

    def _utf8(self, path: str, size: int) -> str:
        """polars reads UTF-8; other encodings are transcoded, streaming, to a temporary file
        (the first ``size`` bytes: the version whose digest the cursor keeps)."""
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
                left = size
                while left > 0 and (block := src.read(min(_CHUNK, left))):
                    left -= len(block)
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
    # inside a file: [path, sha256, rows read, UTF-8 offset of a piece, rows to drop there, bytes
    # the sha256 covers] - a later run resumes there while those bytes still start the file
    partial: list[Any] | None = None
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
