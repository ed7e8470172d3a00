"""A search index kept on storage, so a fresh process searches without loading a view's state.

``lakeledger runs list --filter ...`` runs in a new process each time: loading the runs view's
materialised state and building its search index cost it ~1.4 s CPU over 100k runs, the search
itself ~20 ms. The index (``views/runs_search.SearchIndex``: plain frames) is therefore written
next to the views, ``<root>/views/<view>.search/<through>.<frame>.arrow``, where ``through`` is
the events version of the state it was built from, and a ``<through>.ready`` file is written
last. Arrow IPC, uncompressed: memory-mapped by pyarrow and handed to polars without a copy,
so a fresh process touches only the pages of the columns, keys and rows a search reads (polars'
own reader copies the files: 40 ms for a 100k-run index, against ~2 ms mapped). A mapped file
replaced or removed meanwhile stays readable: the mapping keeps the old file.

Never stale: a snapshot is read only for the exact events version the refreshed view reflects
(``read(ledger, view, through)``), so once the events moved on it is simply not found; the
caller then builds the index from the state and writes a new snapshot (older ones are removed).
The ``ready`` file names the format and the event log (``_stamp``). A missing, partial or
unreadable snapshot is a miss, never an error: the state is the truth.
"""

from __future__ import annotations

import io
import logging
import os
import uuid

import polars as pl
import pyarrow as pa
from lakeledger.store import Ledger
from lakeledger.store.storage import filesystem

log = logging.getLogger("lakeledger.projections")

SUFFIX = ".arrow"
FORMAT = "lakeledger-search-1"  # change it with the frames' layout


def folder(ledger: Ledger, view: str) -> str:
    return ledger.location.join("views", f"{view}.search")


def read(ledger: Ledger, view: str, through: int, names: list[str]) -> dict[str, pl.DataFrame] | None:
    """The frames ``names`` of ``view``'s snapshot for events version ``through``; None if
    there is no complete one for exactly that version. Local files are memory-mapped (a search
    reads the columns and slices it needs); remote ones are fetched whole."""
    base = folder(ledger, view)
    try:
        fs, path = filesystem(ledger.location, base)
        ready = f"{path}/{through}.ready"
        if not fs.exists(ready) or fs.cat(ready).decode() != _stamp(ledger, names):
            return None
        files = {n: f"{path}/{through}.{n}{SUFFIX}" for n in names}
        if not all(fs.exists(f) for f in files.values()):
            return None
        if ledger.location.is_local:
            return {n: _mapped(f) for n, f in files.items()}
        return {n: pl.read_ipc(io.BytesIO(fs.cat(f))) for n, f in files.items()}
    except Exception as exc:  # noqa: BLE001 - a snapshot is a cache: any failure is a miss
        message = ledger.location.redact(str(exc))
        log.info("search snapshot of %s at %d not read: %s", view, through, message)
        return None


def write(ledger: Ledger, view: str, through: int, frames: dict[str, pl.DataFrame]) -> bool:
    """Store ``frames`` as ``view``'s snapshot for events version ``through`` and remove older
    (older than ``through``) ones; False (logged) when it cannot be written, e.g. the root is read-only."""
    base = folder(ledger, view)
    try:
        fs, path = filesystem(ledger.location, base)
        fs.makedirs(path, exist_ok=True)
        for name, frame in frames.items():
            _put(fs, f"{path}/{through}.{name}{SUFFIX}", frame, ledger.location.is_local)
        fs.pipe(f"{path}/{through}.ready", _stamp(ledger, list(frames)).encode())
        for other in fs.ls(path, detail=False):
            if _version(os.path.basename(str(other))) < through:
                fs.rm(other)
        return True
    except Exception as exc:  # noqa: BLE001 - a snapshot is a cache: a read never fails for it
        message = ledger.location.redact(str(exc))
        log.info("search snapshot of %s at %d not written: %s", view, through, message)
        return False


def _mapped(path: str) -> pl.DataFrame:
    """An Arrow IPC file as a frame over its memory-mapped pages (no copy)."""
    frame = pl.from_arrow(pa.ipc.open_file(pa.memory_map(path)).read_all(), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _stamp(ledger: Ledger, names: list[str]) -> str:
    """What a ``ready`` file holds: the snapshot's format, its frames and the event log's table
    id (a ledger made again at the same root, same versions but other events, never reads the
    old one's; a lakeledger whose index has other frames never reads this one)."""
    return f"{FORMAT} {','.join(sorted(names))} {ledger.log.table.metadata().id}"


def _version(name: str) -> int:
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def _put(fs: object, target: str, frame: pl.DataFrame, local: bool) -> None:
    """Write one frame; locally through a temporary name and a rename, so that a reader never
    maps a half-written file (an object store's put is atomic already)."""
    if local:
        temporary = f"{target}.{uuid.uuid4().hex}.tmp"
        frame.write_ipc(temporary, compression="uncompressed")
        os.replace(temporary, target)
        return
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    fs.pipe(target, buffer.getvalue())  # type: ignore[attr-defined]
