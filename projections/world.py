"""Facts the pure views cannot know from events: which artifact files exist, which writer
processes are alive. Computed here, passed to the views in a ``Context``."""

from __future__ import annotations

import os
import socket
from collections import defaultdict

import polars as pl
from lakeledger.store import Ledger
from lakeledger.store.location import is_uri
from lakeledger.store.storage import filesystem


def missing_uris(ledger: Ledger, uris: list[str]) -> frozenset[str]:
    """The uris (relative to the root unless full URIs) with no file or directory behind them."""
    by_fs: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
    handles = {}
    for uri in uris:
        target = uri if is_uri(uri) else ledger.location.join(uri)
        fs, path = filesystem(ledger.location, target)
        key = (id(fs), type(fs).__name__)
        handles[key] = fs
        by_fs[key].append((uri, path))
    gone: set[str] = set()
    for key, items in by_fs.items():
        fs = handles[key]
        for uri, path in items:
            try:
                if not fs.exists(path):
                    gone.add(uri)
            except (OSError, ValueError):
                gone.add(uri)
    return frozenset(gone)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gone_writers(started: pl.DataFrame, finished: pl.DataFrame) -> frozenset[tuple[str, int]]:
    """Writers of unfinished runs on this host whose process no longer exists.

    Other hosts cannot be checked from here (their runs fall back to the silence rule). A pid
    reused by an unrelated process makes a dead run look alive until the silence rule applies.
    """
    host = socket.gethostname()
    open_runs = started.join(finished.select("run_id"), on="run_id", how="anti").filter(
        pl.col("writer_host") == host
    )
    pids = {int(p) for p in open_runs["writer_pid"].drop_nulls().to_list()}
    return frozenset((host, p) for p in pids if not _alive(p))
