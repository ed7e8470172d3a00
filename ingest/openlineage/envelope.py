"""The OpenLineage envelope, validated with msgspec; facets stay free-form (any spec version).

Only what the mapping needs is typed: the three event shapes (RunEvent, DatasetEvent, JobEvent)
are told apart by their fields (``run``, ``dataset``, else ``job``), as the spec does. Unknown
fields are allowed everywhere: producers add them, and the raw event is kept whole anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from lakeledger.store.errors import InvalidInput

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]
Facets = dict[str, Any]


class _Named(msgspec.Struct, kw_only=True):
    """A job or dataset: identified by ``namespace/name`` like Marquez does."""

    namespace: str
    name: str
    facets: Facets = {}

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


class Dataset(_Named, kw_only=True):
    inputFacets: Facets = {}
    outputFacets: Facets = {}


class Job(_Named, kw_only=True):
    pass


class RunRef(msgspec.Struct, kw_only=True):
    runId: str
    facets: Facets = {}


class _Event(msgspec.Struct, kw_only=True):
    """The fields every OpenLineage event carries."""

    eventTime: datetime
    producer: str
    schemaURL: str = ""


class JobEvent(_Event, kw_only=True):
    job: Job
    inputs: list[Dataset] = []
    outputs: list[Dataset] = []


class RunEvent(_Event, kw_only=True):
    eventType: EventType | None = None
    run: RunRef
    job: Job
    inputs: list[Dataset] = []
    outputs: list[Dataset] = []


class DatasetEvent(_Event, kw_only=True):
    dataset: Dataset


Envelope = RunEvent | JobEvent | DatasetEvent


def validate(raw: Any, where: str) -> Envelope:
    """The typed envelope of one raw OpenLineage event, or ``InvalidInput`` naming the field."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: an OpenLineage event is a JSON object, got {type(raw).__name__}")
    shape: type[Envelope] = RunEvent if "run" in raw else DatasetEvent if "dataset" in raw else JobEvent
    try:
        event = msgspec.convert(raw, shape)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            f"{where}: not a valid OpenLineage {shape.__name__}: {exc} "
            "(see https://openlineage.io/spec for the fields)"
        ) from None
    if event.eventTime.tzinfo is None:  # the spec asks for a zone; take UTC, never local time
        event.eventTime = event.eventTime.replace(tzinfo=UTC)
    return event


def decode_many(body: bytes, source: str) -> list[tuple[str, Any]]:
    """``(where, raw)`` per event in ``body``: one JSON object, a JSON array, or JSON Lines
    (the client's file transport writes one event per line)."""
    text = body.strip()
    if not text:
        raise InvalidInput(f"{source}: no OpenLineage events (empty input)")
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        value = None
    else:
        items = value if isinstance(value, list) else [value]
        return [(f"{source}[{i}]" if isinstance(value, list) else source, v) for i, v in enumerate(items)]
    out: list[tuple[str, Any]] = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{source}:{number}", msgspec.json.decode(line)))
        except msgspec.DecodeError as exc:
            raise InvalidInput(
                f"{source}:{number}: not valid JSON ({exc}); send one OpenLineage event as a JSON "
                "object, an array of them, or one per line"
            ) from None
    return out
