"""Deterministic config hashes: SHA-256 over canonical JSON.

Canonical means msgspec's ``order="sorted"``: struct fields and dict keys sorted, sets sorted,
floats in shortest round-trip form. The same config gives the same hash in any process and any
Python version, whatever order its fields were written in.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from .errors import InvalidInput


def canonical_json(obj: Any) -> bytes:
    try:
        return msgspec.json.encode(obj, order="sorted")
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidInput(
            f"config of type {type(obj).__name__} cannot be hashed: {exc}; use a HashableConfig, "
            "a msgspec Struct, a dataclass or a dict of JSON values"
        ) from None


def config_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def config_dict(obj: Any) -> dict[str, Any]:
    data = msgspec.json.decode(canonical_json(obj))
    if not isinstance(data, dict):
        raise InvalidInput(f"a config must be an object, got {type(data).__name__}")
    return data


class HashableConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Base for typed pipeline configs: subclass, add fields, get ``config_hash``.

    >>> class Features(HashableConfig):
    ...     window_days: int = 7
    >>> Features().config_hash == Features(window_days=7).config_hash
    True
    """

    @property
    def config_hash(self) -> str:
        return config_hash(self)
