"""Schema evolution on read: old event versions are upcast, never rewritten.

An upcaster turns the JSON object of ``(kind, version)`` into the object of ``version + 1``.
Readers chain them up to the kind's current version. Kinds this lakeledger does not know, and
versions newer than it knows, come back as ``RawEvent`` rather than an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from .errors import InvalidInput
from .events import KINDS, AnyEvent, RawEvent, current_schema_version
from .schema import DatasetSchema

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(kind: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(kind, from_version)] = fn
        return fn

    return register


@upcaster("run.metric_logged", 1)
def _metric_step(obj: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 metrics had no step: they were all step 0."""
    return {**obj, "step": obj.get("step", 0)}


@upcaster("dataset.declared", 1)
def _typed_schema(obj: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 held the schema in whichever shape its producer wrote (``{col: type}``, the
    stage's ``{"columns", "schema_hash"}``, Spark ``{"fields"}``): read them all as one type."""
    try:
        schema = DatasetSchema.parse(obj.get("schema"))
    except InvalidInput:
        return obj  # not a schema at all: the event stays raw rather than guessed
    return {**obj, "schema": msgspec.to_builtins(schema) if schema is not None else None}


def upcast(obj: dict[str, Any]) -> AnyEvent | RawEvent:
    """Decode one stored event object into its current typed form (or ``RawEvent``)."""
    kind = obj.get("kind", "")
    version = int(obj.get("schema_version", 1))
    cls = KINDS.get(kind)
    if cls is None or version > current_schema_version(kind):
        return _raw(obj)
    current = current_schema_version(kind)
    while version < current:
        step = UPCASTERS.get((kind, version))
        if step is None:
            return _raw(obj)
        obj = step(obj)
        version += 1
        obj["schema_version"] = version
    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError:
        return _raw(obj)


def _raw(obj: dict[str, Any]) -> RawEvent:
    occurred = obj.get("occurred_at")
    try:
        occurred_at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
    except ValueError:
        occurred_at = None
    return RawEvent(
        event_id=str(obj.get("event_id", "")),
        kind=str(obj.get("kind", "")),
        schema_version=int(obj.get("schema_version", 1)),
        occurred_at=occurred_at,
        data=obj,
    )
