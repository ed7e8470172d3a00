"""The content-addressed artifact store: ``<root>/artifacts/sha256/<aa>/<digest>``.

Why content addressing: the path names the bytes, so the same file logged by a thousand runs is
stored once, a copy can be verified against its own name, and a write is idempotent: two writers
of the same content write the same object.

Writes stream in blocks (memory stays flat for multi-GB files) and never expose a half-written
object under its final name:
- local roots: bytes go to ``artifacts/.partial/<digest>``, which a retry after a crash resumes
  (its prefix is checked against the source first), then an atomic rename publishes it;
- object stores (S3...): one streamed (multipart) upload to the final key, which S3 makes
  visible only when complete; an interrupted upload leaves nothing and a retry starts over.
Put-if-absent: an object already present with the right size is not written again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem

from .errors import InvalidInput, LedgerError, StorageError
from .location import Location
from .storage import filesystem

BLOCK = 8 * 1024 * 1024
PREFIX = "artifacts/sha256"
PARTIAL = "artifacts/.partial"


class ChecksumMismatch(LedgerError):
    """A stored copy's bytes no longer match the checksum it was registered with."""

    exit_code = 1


@dataclass(frozen=True)
class StoredArtifact:
    uri: str  # relative to the ledger root: artifacts/sha256/<aa>/<digest>
    digest: str  # sha256 hex of the content
    size: int
    written: bool  # False when the content was already in the store


def uri_of(digest: str) -> str:
    return f"{PREFIX}/{digest[:2]}/{digest}"


def digest_of_uri(uri: str) -> str | None:
    """The digest a store uri names (``None`` for artifacts stored elsewhere)."""
    parts = uri.split("/")
    if len(parts) == 4 and "/".join(parts[:2]) == PREFIX and len(parts[3]) == 64:
        return parts[3]
    return None


def _hash_file(path: str, upto: int | None = None) -> tuple[str, int, Any]:
    """sha256 and size of a local file, plus the hasher state after its first ``upto`` bytes."""
    digest = hashlib.sha256()
    size = 0
    at_prefix = hashlib.sha256() if upto == 0 else None
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            if upto is not None and at_prefix is None and size < upto <= size + len(block):
                digest.update(block[: upto - size])
                at_prefix = digest.copy()
                digest.update(block[upto - size :])
            else:
                digest.update(block)
            size += len(block)
    return digest.hexdigest(), size, at_prefix


class ArtifactStore:
    """Put local files into the store and get them back, verified."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def _fs(self, rel: str) -> tuple[AbstractFileSystem, str]:
        return filesystem(self.location, self.location.join(rel))

    def put(self, source: str | os.PathLike[str]) -> StoredArtifact:
        """Copy a local file into the store (streamed, idempotent, resumable on retry)."""
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise InvalidInput(f"artifact file {path!r} does not exist or is not a file")
        digest, size, _ = _hash_file(path)
        uri = uri_of(digest)
        fs, target = self._fs(uri)
        try:
            if _size(fs, target) == size:
                return StoredArtifact(uri, digest, size, written=False)
            if self.location.is_local:
                self._put_local(path, digest, size, target)
            else:
                with open(path, "rb") as src, fs.open(target, "wb", block_size=BLOCK) as dst:
                    _pump(src, dst)
        except OSError as exc:
            raise StorageError(
                self.location.redact(
                    f"could not store artifact {path!r} at {uri}: {exc}; "
                    "retrying resumes or repeats the copy safely"
                )
            ) from exc
        return StoredArtifact(uri, digest, size, written=True)

    def _put_local(self, path: str, digest: str, size: int, target: str) -> None:
        """Append to ``.partial/<digest>`` under an exclusive lock, then rename it into place."""
        partial = self.location.join(PARTIAL, digest)
        os.makedirs(os.path.dirname(partial), exist_ok=True)
        with open(partial, "a+b") as dst:
            fcntl.flock(dst, fcntl.LOCK_EX)  # one writer per digest; a second one waits
            if os.path.exists(target) and os.path.getsize(target) == size:
                return  # the other writer finished it meanwhile
            have = os.fstat(dst.fileno()).st_size
            if have and not self._prefix_matches(partial, path, have):
                dst.truncate(0)
                have = 0
            with open(path, "rb") as src:
                src.seek(have)
                _pump(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(partial, target)

    @staticmethod
    def _prefix_matches(partial: str, source: str, have: int) -> bool:
        """Whether an interrupted copy's bytes are the source's first ``have`` bytes."""
        _, size, at_prefix = _hash_file(source, upto=have)
        return have <= size and at_prefix is not None and _hash_file(partial)[0] == at_prefix.hexdigest()

    def verify(self, uri: str, digest: str) -> bool:
        """Whether the stored copy at ``uri`` still hashes to ``digest`` (False if absent)."""
        fs, target = self._fs(uri)
        try:
            hasher = hashlib.sha256()
            with fs.open(target, "rb") as fh:
                while block := fh.read(BLOCK):
                    hasher.update(block)
        except FileNotFoundError:
            return False
        return hasher.hexdigest() == digest

    def get(self, uri: str, digest: str, dest: str | os.PathLike[str]) -> str:
        """Copy the stored object to local ``dest`` and verify it; a mismatch removes the copy."""
        fs, target = self._fs(uri)
        out = os.fspath(dest)
        tmp = f"{out}.partial"
        hasher = hashlib.sha256()
        try:
            with fs.open(target, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(BLOCK):
                    hasher.update(block)
                    dst.write(block)
        except FileNotFoundError:
            raise StorageError(f"artifact object {uri} is missing from storage") from None
        if hasher.hexdigest() != digest:
            os.remove(tmp)
            raise ChecksumMismatch(
                f"artifact object {uri} is corrupted: its content hashes to {hasher.hexdigest()[:12]}, "
                f"registered as {digest[:12]}; restore it from a backup or log the file again"
            )
        os.replace(tmp, out)
        return out


def _pump(src: Any, dst: Any) -> None:
    while block := src.read(BLOCK):
        dst.write(block)


def _size(fs: AbstractFileSystem, path: str) -> int | None:
    try:
        return int(fs.size(path))
    except (FileNotFoundError, OSError):
        return None
