"""The current version of an input in storage: the fact lineage pins are compared with.

Stages pin what they read (``name@v3`` for a Delta table, ``name@sha256:...`` for Parquet files)
and the ``staleness`` view is supplied the current versions from here, so a table that got new
data outside the ledger makes both say stale. Read through fsspec (the Delta version is the
newest commit file in ``_delta_log``), so it works the same on local disk and object stores.
"""

from __future__ import annotations

import hashlib
import re

from .location import Location, is_uri
from .storage import filesystem

_COMMIT = re.compile(r"^(\d{20})\.(?:json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


def input_path(location: Location, name: str, artifact_uri: str | None) -> str:
    """Where input ``name`` lives: its registered (not retired) artifact's uri wins, else the
    path ``name`` under the ledger root."""
    if artifact_uri is not None:
        return artifact_uri if is_uri(artifact_uri) else location.join(artifact_uri)
    return location.join(name)


def delta_version(location: Location, path: str) -> int | None:
    """The table's current version (its newest commit), or None when ``path`` is no Delta table."""
    fs, base = filesystem(location, path)
    log_dir = base.rstrip("/") + "/_delta_log"
    try:
        fs.invalidate_cache(log_dir)
        names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(log_dir, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return None
    versions = [int(m[1]) for n in names if (m := _COMMIT.match(n))]
    return max(versions) if versions else None


def parquet_files(location: Location, path: str) -> list[str]:
    fs, base = filesystem(location, path)
    fs.invalidate_cache(base)
    if not fs.exists(base):
        return []
    return sorted(p for p in fs.find(base) if p.endswith(".parquet"))


def files_hash(location: Location, path: str) -> tuple[str, int]:
    """SHA-256 over the relative names and bytes of the Parquet files under ``path``, and
    their total size: the content identity of a Parquet artifact."""
    fs, base = filesystem(location, path)
    digest, size = hashlib.sha256(), 0
    for f in parquet_files(location, path):
        data = fs.cat_file(f)
        digest.update(f[len(base) :].encode() + b"\0" + data)
        size += len(data)
    return digest.hexdigest(), size


def current_pin(location: Location, path: str, content_hash: str | None = None) -> str | None:
    """``v<n>`` for a Delta table, ``sha256:<hex>`` for Parquet files (``content_hash`` when the
    ledger already knows it), None when nothing is there."""
    version = delta_version(location, path)
    if version is not None:
        return f"v{version}"
    if not parquet_files(location, path):
        return None
    return f"sha256:{content_hash or files_hash(location, path)[0]}"
