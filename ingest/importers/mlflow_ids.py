"""Ids of imported MLflow records: UUIDs derived from MLflow's own identifiers.

Deterministic (same store, same ids), so a second import adds nothing and an import after more
training adds only what is new. A metric point's id hashes its run and key, then its fields
packed in binary; ``metric_ids`` computes a whole column of them (the costly part of importing
long histories) and must stay equal to ``metric_id`` point by point (tests/test_mlflow_ids.py).
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array

try:
    import numpy as np
except ImportError:  # MLflow brings numpy; without it ids are laid out in polars
    np = None  # type: ignore[assignment]

import polars as pl
import pyarrow as pa


def derived_id(*parts: object) -> str:
    """A deterministic UUID (version 8 layout) from MLflow identifiers: same input, same id."""
    return _as_uuid(hashlib.sha1(_SEP.join(map(str, ("mlflow", *parts))).encode()).hexdigest())


_SEP = "\x1f"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_POINT = struct.Struct("<qqdq")  # step, timestamp, value, occurrence


def _as_uuid(h: str) -> str:
    """The first 128 bits of a hex digest as a UUID string, version 8, RFC 4122 variant."""
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def metric_id(rid: str, key: str, step: int, timestamp: int, value: float, occurrence: int) -> str:
    """The id of one metric point: the run and key, then the point's fields packed in binary
    (formatting them as text was most of an import's time)."""
    digest = hashlib.sha1(_SEP.join(("mlflow", "metric", rid, key, "")).encode())
    digest.update(_POINT.pack(step, timestamp, value, occurrence))
    return _as_uuid(digest.hexdigest())


def metric_ids(points: pl.DataFrame) -> pl.Series:
    """``metric_id`` of every point (columns run_id, key, step, timestamp, value, occurrence,
    sorted by run and key): one loop of hashes sharing each (run, key)'s prefix over the points
    packed at once (``_POINT``'s layout; packing each point was a third of the loop),
    the UUID text laid out in bulk (``_uuid_texts``: formatting it per point was a third of the time)."""
    groups = points.group_by("run_id", "key", maintain_order=True).len()
    packed = array("q", bytes(_POINT.size * points.height))  # _POINT's layout, 4 x 8 bytes
    for at, column in enumerate(("step", "timestamp", "value", "occurrence")):
        values = points[column].rechunk().to_arrow()  # the raw 8 bytes of each (float bits too)
        start = values.offset * 8
        words = array("q")
        words.frombytes(memoryview(values.buffers()[1])[start : start + 8 * len(values)])  # type: ignore[index]
        packed[at::4] = words
    if sys.byteorder != "little":
        packed.byteswap()
    raw, size = packed.tobytes(), _POINT.size
    fields = [raw[at : at + size] for at in range(0, len(raw), size)]
    sha1 = hashlib.sha1
    digests: list[bytes] = []
    add = digests.append
    at = 0
    for rid, key, n in groups.iter_rows():
        copy = sha1(_SEP.join(("mlflow", "metric", rid, key, "")).encode()).copy
        for packed_point in fields[at : at + n]:
            h = copy()
            h.update(packed_point)
            add(h.digest())
        at += n
    return _uuid_texts(digests)


def _uuid_texts(digests: list[bytes]) -> pl.Series:
    """``_as_uuid`` of each digest's hex, as one column: the version and variant bits set in
    the bytes and the text laid out with numpy (MLflow brings it; 60 ms for 300k ids against
    180 ms for polars' nine slices of the hex text, the way taken without numpy)."""
    if np is None:
        h = pl.Series(digests, dtype=pl.Binary).bin.encode("hex")
        return pl.select(
            pl.concat_str(
                h.str.slice(0, 8), pl.lit("-"), h.str.slice(8, 4), pl.lit("-8"), h.str.slice(13, 3),
                pl.lit("-"), h.str.slice(16, 1).replace_strict(_VARIANT), h.str.slice(17, 3),
                pl.lit("-"), h.str.slice(20, 12),
            ).alias("event_id")
        ).to_series()
    n = len(digests)
    raw = np.frombuffer(b"".join(digests), np.uint8).reshape(n, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x80  # version 8 (the hex digit at 12 becomes "8")
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant (the digit at 16: "89ab"[d & 3])
    hexes = _HEX_PAIRS[raw].view(np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = hexes[:, start:end]
    column = pa.Array.from_buffers(pa.binary(36), n, [None, pa.py_buffer(text.tobytes())])
    return pl.Series("event_id", column).cast(pl.Binary).cast(pl.String)


_HEX_PAIRS = None if np is None else np.frombuffer(b"".join(
    f"{i:02x}".encode() for i in range(256)), np.uint16)  # byte -> its two hex digits
