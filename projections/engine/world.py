"""Facts the pure views cannot know from events: which artifact files exist, the current
version of every pinned input, which writer processes are alive. Computed here, passed to the
views in a ``Context``."""

from __future__ import annotations

import os
import socket
from collections import defaultdict

import polars as pl
from fsspec import AbstractFileSystem
from lakeledger.store import Ledger, versions
from lakeledger.store.artifacts import ArtifactStore, digest_of_uri
from lakeledger.store.location import is_uri, scheme_of
from lakeledger.store.storage import filesystem


def storage_facts(ledger: Ledger, uris: list[str]) -> tuple[frozenset[str], dict[str, str]]:
    """(uris known to be gone, {uri: why it could not be checked}); relative uris are
    relative to the root.

    A scheme with no installed driver (``gs://`` without gcsfs, ``hdfs://``) or a store that
    refuses the question is *not checked*, said so, never a crash and never "missing".
    One listing per parent directory rather than one request per file: on S3 that is the
    difference between a few LIST calls and thousands of HEAD calls.
    """
    by_parent: dict[str, list[tuple[str, str]]] = defaultdict(list)
    systems: dict[str, AbstractFileSystem] = {}
    unchecked: dict[str, str] = {}
    for uri in uris:
        target = uri if is_uri(uri) else ledger.location.join(uri)
        if uri.startswith("file://"):
            target = uri[len("file://") :]
        try:
            fs, path = filesystem(ledger.location, target)
        except (ImportError, ValueError, OSError) as exc:
            unchecked[uri] = f"existence not checked: {scheme_of(uri)}:// storage unavailable ({exc})"
            continue
        path = path.rstrip("/")
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        key = f"{fs.protocol}:{parent}"
        systems[key] = fs
        by_parent[key].append((uri, path))
    gone: set[str] = set()
    for key, items in by_parent.items():
        fs = systems[key]
        parent = key.split(":", 1)[1]
        fs.invalidate_cache(parent)  # s3fs caches listings per process: ask storage again
        try:
            present = {str(p).rstrip("/") for p in fs.ls(parent or "/", detail=False)}
        except FileNotFoundError:
            gone.update(uri for uri, _ in items)
            continue
        except (OSError, ValueError):
            present = {path for _, path in items if _exists(fs, path)}
        gone.update(uri for uri, path in items if path not in present and not _exists(fs, path))
    return frozenset(gone), unchecked


def corrupted_uris(ledger: Ledger, artifacts: pl.DataFrame) -> frozenset[str]:
    """Copies in lakeledger's artifact store whose bytes no longer hash to their name.

    Only store objects (``artifacts/sha256/...``) can be verified: their path is their checksum.
    Each distinct object is hashed once per check; absent ones are left to ``storage_facts``.
    """
    store = ArtifactStore(ledger.location)
    uris = {u for u in artifacts["uri"].drop_nulls().to_list() if digest_of_uri(u)}
    return frozenset(
        u for u in sorted(uris) if _exists(*filesystem(ledger.location, ledger.location.join(u)))
        and not store.verify(u, digest_of_uri(u) or "")
    )


def current_versions(
    ledger: Ledger, inputs: dict[str, tuple[str | None, str | None]]
) -> dict[str, str | None]:
    """Input name -> its current version pin (``v4``, ``sha256:...``; None when nothing is there),
    found exactly as a stage resolves its inputs (``store/versions.py``). ``inputs`` maps each
    name to the uri and content hash of its live artifact (or Nones: a path under the root)."""
    out: dict[str, str | None] = {}
    for name, (uri, content_hash) in inputs.items():
        path = versions.input_path(ledger.location, name, uri)
        try:
            out[name] = versions.current_pin(ledger.location, path, content_hash)
        except (OSError, ValueError):
            continue  # unreachable storage is not "gone": judged by the log instead
    return out


def _exists(fs: AbstractFileSystem, path: str) -> bool:
    try:
        return bool(fs.exists(path))
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gone_writers(open_runs: pl.DataFrame) -> frozenset[tuple[str, int]]:
    """Writers of unfinished runs (``open_runs``: ``writer_host``, ``writer_pid``) on this host
    whose process no longer exists.

    Other hosts cannot be checked from here (their runs fall back to the silence rule). A pid
    reused by an unrelated process makes a dead run look alive until the silence rule applies.
    """
    host = socket.gethostname()
    here = open_runs.filter(pl.col("writer_host") == host)
    pids = {int(p) for p in here["writer_pid"].drop_nulls().to_list()}
    return frozenset((host, p) for p in pids if not _alive(p))
