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

from .errors import InvalidInput, PathEscapeError

DEFAULT_ROOT = "./lakeledger"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_FILE = re.compile(r"^file://", re.I)  # schemes are case-insensitive (RFC 3986): FILE:// too
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECRET_KEYS = re.compile(r"secret|token|password|session|credential|key", re.I)


def default_root() -> str:
    """The ledger root when none is given: ``$LAKELEDGER_ROOT``, else ``./lakeledger``."""
    return os.environ.get("LAKELEDGER_ROOT", DEFAULT_ROOT)


def is_uri(path: str) -> bool:
    """A remote URI (``s3://``, ``gs://``...); local paths and ``file://`` URIs are not."""
    return bool(_SCHEME.match(path)) and not _FILE.match(path)


def local_part(path: str) -> str:
    """``path`` without a ``file://`` scheme (any case)."""
    return _FILE.sub("", path, count=1)


def check_uri(uri: str, field: str = "uri") -> str:
    """Refuse uris no storage can hold: empty, or with NUL / control characters."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(
            f"{field} {uri!r} is empty", field=field, value=uri, fix="give a path or a URI"
        )
    if _CONTROL.search(uri):
        raise InvalidInput(
            f"{field} {uri!r} contains a control character (NUL, newline...)",
            field=field,
            value=uri,
            fix="remove it: no file system accepts it in a path",
        )
    return uri


def check_relative(uri: str, field: str = "uri") -> str:
    """A relative local uri must not climb above the ledger root with ``..``."""
    check_uri(uri, field)
    raw = local_part(uri)
    if not is_uri(uri) and not os.path.isabs(raw):
        norm = posixpath.normpath(raw.replace(os.sep, "/"))
        if norm == ".." or norm.startswith("../"):
            raise PathEscapeError(
                f"{field} {uri!r} escapes the ledger root through '..'",
                field=field,
                value=uri,
                fix="give a path inside the root, an absolute path or a full URI",
            )
    return uri


@dataclass(frozen=True)
class Location:
    """The ledger root. ``storage_options`` are passed to delta-rs, polars and fsspec."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(
        cls, root: str | os.PathLike[str], storage_options: dict[str, str] | None = None
    ) -> Location:
        text = local_part(os.fspath(root))
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
        check_uri(uri)
        if is_uri(uri):
            return uri
        raw = local_part(uri)
        absolute = os.path.isabs(raw)
        if not self.is_local:
            if absolute:
                raise PathEscapeError(
                    f"artifact uri {uri!r} is a local absolute path but the ledger root is remote",
                    field="uri",
                    value=uri,
                    fix="give a path relative to the root or a full URI",
                )
            check_relative(raw)
            return posixpath.normpath(raw)
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
                f"artifact uri {uri!r} resolves outside the ledger root {self.root} {how}",
                field="uri",
                value=uri,
                fix="store artifacts under the root or give a full remote URI (s3://...)",
            )
        return os.path.relpath(given, self.root)


def scheme_of(path: str) -> str:
    return urlsplit(path).scheme if is_uri(path) else "file"
