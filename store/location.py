"""Where a ledger lives: a local path or an fsspec-style URI plus storage options.

Nothing here assumes a local disk. Storage options often carry credentials, so they are kept
out of ``repr`` and every message that leaves lakeledger goes through ``redact``.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import PathEscapeError

DEFAULT_ROOT = "./lakeledger"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SECRET_KEYS = re.compile(r"secret|token|password|session|credential|key", re.I)


def default_root() -> str:
    """The ledger root when none is given: ``$LAKELEDGER_ROOT``, else ``./lakeledger``."""
    return os.environ.get("LAKELEDGER_ROOT", DEFAULT_ROOT)


def is_uri(path: str) -> bool:
    return bool(_SCHEME.match(path)) and not path.startswith("file://")


@dataclass(frozen=True)
class Location:
    """The ledger root. ``storage_options`` are passed to delta-rs, polars and fsspec."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(
        cls, root: str | os.PathLike[str], storage_options: dict[str, str] | None = None
    ) -> Location:
        text = os.fspath(root)
        if text.startswith("file://"):
            text = text[len("file://") :]
        if not is_uri(text):
            text = os.path.abspath(os.path.expanduser(text))
        return cls(text.rstrip("/") or "/", dict(storage_options or {}))

    @property
    def is_local(self) -> bool:
        return not is_uri(self.root)

    def join(self, *parts: str) -> str:
        if self.is_local:
            return os.path.join(self.root, *parts)
        return posixpath.join(self.root, *parts)

    @property
    def options(self) -> dict[str, str] | None:
        return dict(self.storage_options) or None

    def redact(self, message: str) -> str:
        """Remove every secret-looking storage option value from a message."""
        for key, value in self.storage_options.items():
            if value and len(str(value)) >= 4 and _SECRET_KEYS.search(key):
                message = message.replace(str(value), "***")
        return message

    def resolve_artifact(self, uri: str) -> str:
        """Check that an artifact uri stays inside the root; return it normalised.

        Relative paths are relative to the root. Explicit remote URIs (``s3://...``) name storage
        outside the ledger on purpose and are kept as given. Local absolute paths and
        ``file://`` URIs must be inside a local root, symlinks resolved.
        """
        if is_uri(uri):
            return uri
        raw = uri[len("file://") :] if uri.startswith("file://") else uri
        absolute = os.path.isabs(raw)
        if not self.is_local:
            if absolute:
                raise PathEscapeError(
                    f"artifact uri {uri!r} is a local absolute path but the ledger root is remote; "
                    "give a path relative to the root or a full URI"
                )
            norm = posixpath.normpath(raw)
            if norm == ".." or norm.startswith("../"):
                raise PathEscapeError(
                    f"artifact uri {uri!r} escapes the ledger root through '..'; "
                    "give a path inside the root"
                )
            return norm
        given = os.path.normpath(raw if absolute else os.path.join(self.root, raw))
        root = os.path.realpath(self.root)
        if os.path.commonpath([root, os.path.realpath(given)]) != root:
            if absolute:
                how = "as an absolute path"
            elif os.path.commonpath([self.root, given]) != self.root:
                how = "through '..'"
            else:
                how = "through a symlink"
            raise PathEscapeError(
                f"artifact uri {uri!r} resolves outside the ledger root {self.root} {how}; "
                "store artifacts under the root or give a full remote URI (s3://...)"
            )
        return os.path.relpath(given, self.root)


def scheme_of(path: str) -> str:
    return urlsplit(path).scheme if is_uri(path) else "file"
