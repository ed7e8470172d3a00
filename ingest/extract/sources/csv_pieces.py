"""The bytes of a CSV file: pieces of complete records, digests, and record shapes.

Reading by byte ranges keeps memory bounded whatever the file or line size: a piece is at most a
16 MB of complete records (a newline outside quotes ends a record), and a record longer than
``max_line_bytes`` is streamed past and reported, never held. Reading stops at ``limit``: the
size the file's digest covered when the run planned it, so everything a cursor commits lies in
the version it names, and a later run can check that this version still starts the file (a
logger appending) before it resumes there.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgspec
import polars as pl

READ = 16 << 20  # most bytes read at once
HEAD = 1000  # bytes of an over-long record kept for the quarantine
_HASH_BLOCK = 1 << 20  # hashing reads small blocks: big ones stay in the process's heap after


@dataclass(frozen=True)
class Piece:
    header: bytes
    body: bytes | None  # complete records; None: one over-long record (``head`` is its start)
    begin: int  # offsets in the (UTF-8) text
    end: int
    line: int  # line number of the piece's first record
    head: bytes = b""


def pieces(
    file: BinaryIO,
    start: int,
    *,
    rows: int,
    quote: bytes | None,
    max_line: int,
    header: bool,
    limit: int | None = None,
) -> Iterator[Piece]:
    """Pieces of about ``rows`` records (and at most ``READ`` bytes read at once) from ``start``
    to ``limit``; the text before ``start`` is read once to count its lines."""
    with file as f:
        head = f.readline() if header else b""
        line = 1 + head.count(b"\n")
        pos = f.tell()
        while pos < start:
            block = f.read(min(READ, start - pos))
            if not block:
                break
            line += block.count(b"\n")
            pos += len(block)
        offset = pos
        per_row, carry = 100.0, b""

        def read(n: int) -> bytes:
            nonlocal pos
            if limit is not None:
                n = min(n, limit - pos)
            block = f.read(n) if n > 0 else b""
            pos += len(block)
            return block

        while True:
            block = read(int(min(READ, max(1 << 16, rows * per_row - len(carry)))))
            ended = not block
            data = carry + block if carry else block
            del block  # (while a piece is parsed, only its body is held: not 3 copies of 5 MB)
            if ended:
                if data.strip():
                    yield Piece(head, data, offset, offset + len(data), line)
                return
            cut = _row_end(data, quote)
            if cut is None and len(data) > max_line:  # one record longer than allowed: skip it
                first, size, carry = data[:HEAD], len(data), b""
                parity = data.count(quote) % 2 if quote else 0
                lines = data.count(b"\n")
                while True:
                    block = read(READ)
                    found = _first_row_end(block, quote, parity) if block else len(block)
                    part = block if found is None else block[:found]
                    lines += part.count(b"\n")
                    size += len(part)
                    if found is not None:
                        carry = block[found:]
                        break
                    parity = (parity + (block.count(quote) if quote else 0)) % 2
                yield Piece(head, None, offset, offset + size, line, first)
                offset, line = offset + size, line + lines
                continue
            if cut is None:  # not one complete record yet
                carry = data
                continue
            body, carry = data[:cut], data[cut:]
            del data
            newlines = body.count(b"\n")
            per_row = max(1.0, len(body) / max(1, newlines))
            yield Piece(head, body, offset, offset + cut, line)
            offset, line = offset + cut, line + newlines


def _row_end(data: bytes, quote: bytes | None) -> int | None:
    """Just after the last newline outside quotes (an even number of quotes before it)."""
    pos = data.rfind(b"\n")
    if quote is None or quote not in data:  # no quote at all (a quick scan): no counting
        return pos + 1 if pos >= 0 else None
    while pos >= 0:
        if data.count(quote, 0, pos) % 2 == 0:
            return pos + 1
        pos = data.rfind(b"\n", 0, pos)
    return None


def _first_row_end(block: bytes, quote: bytes | None, parity: int) -> int | None:
    """Just after the first newline outside quotes, ``parity`` quotes being open before."""
    prev, pos = 0, block.find(b"\n")
    while pos >= 0:
        if quote:
            parity = (parity + block.count(quote, prev, pos)) % 2
        if parity == 0:
            return pos + 1
        prev, pos = pos, block.find(b"\n", pos + 1)
    return None


def digest(file: BinaryIO, prefix_size: int | None) -> tuple[str, int, str | None]:
    """SHA-256 of the file, its size, and the digest of its first ``prefix_size`` bytes when
    those end a line (``None`` otherwise: a line was cut there, it cannot be resumed)."""
    sha = hashlib.sha256()
    prefix: str | None = None
    size, tail = 0, b""
    with file as f:
        while block := f.read(_HASH_BLOCK):
            if prefix_size is not None and prefix is None and size + len(block) >= prefix_size:
                head = sha.copy()
                cut = prefix_size - size
                head.update(block[:cut])
                tail = (tail + block[max(0, cut - 4):cut])[-4:]
                prefix = head.hexdigest()
            elif prefix is None:
                tail = (tail + block[-4:])[-4:]
            sha.update(block)
            size += len(block)
    if prefix is not None and prefix_size and not tail.rstrip(b"\x00").endswith(b"\n"):
        prefix = None  # (UTF-16/32 newlines end in NUL bytes)
    return sha.hexdigest(), size, prefix


def shapes(body: bytes, delimiter: str, quote: str | None, first_line: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each record, exactly as the csv module splits them (slow path,
    used only for pieces where polars saw a row of the wrong width)."""
    text = io.StringIO(body.decode("utf-8", errors="replace"), newline="")
    options: dict[str, Any] = {"delimiter": delimiter}
    if quote:
        options["quotechar"] = quote
    else:
        options["quoting"] = csv.QUOTE_NONE
    reader = csv.reader(text, **options)
    out, line = [], first_line
    for fields in reader:
        out.append((line, fields))
        line = first_line + reader.line_num
    return out


def ragged(frame: pl.DataFrame, names: list[str], extra: str, piece: Piece, options: Any) -> pl.DataFrame:
    """``frame`` (parsed with one ``extra`` column past the header) with ``_raw``/``_reason`` set
    on the records whose width is not the header's (no such columns when all are right);
    ``extra`` dropped."""
    from lakeledger.ingest.extract.records import RAW, REASON

    suspect = frame[extra].is_not_null() | frame[names[-1]].is_null()
    raws: list[str | None] = []
    reasons: list[str | None] = []
    if suspect.any() and piece.body is not None:
        raws, reasons = [None] * frame.height, [None] * frame.height
        found = shapes(piece.body, options.delimiter, options.quote_char, piece.line)
        if len(found) == frame.height:  # polars and the csv module agree on the records
            for i in suspect.arg_true().to_list():
                line, fields = found[i]
                if len(fields) != len(names) and not (len(names) == 1 and not fields):
                    raws[i] = msgspec.json.encode(fields).decode()
                    reasons[i] = f"line {line}: {len(fields)} fields, the header has {len(names)}"
        else:  # they do not: at least never keep a row polars cut short
            wide = frame.select(pl.concat_list([*names, extra]).list.eval(pl.element().fill_null("")))
            for i in frame[extra].is_not_null().arg_true().to_list():
                raws[i] = msgspec.json.encode(wide.row(i)[0]).decode()
                at = piece.line + i  # each record takes one line or more
                reasons[i] = f"line {at} or later: more fields than the header's {len(names)}"
    if not any(reasons):  # the common case: no per-row Python lists, no columns to drop later
        return frame.drop(extra)
    return frame.drop(extra).with_columns(
        pl.Series(RAW, raws, pl.String), pl.Series(REASON, reasons, pl.String)
    )
