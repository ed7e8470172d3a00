"""The event vocabulary: one frozen ``msgspec.Struct`` per kind, in a union tagged on ``kind``.

Rules for changing it (events are immutable history, so readers must always understand them):
- extend, never rename: new fields get defaults, new meanings get new kinds;
- a breaking change bumps the kind's ``schema_version`` and adds the upcaster on the class itself:
  a static method ``upcast_v<n>_v<n+1>(obj) -> obj`` on JSON objects, which the one mapper
  (``codec.upcast``) chains on read; nothing stored is ever rewritten;
- the store stamps ``recorded_at`` and the writer identity at commit, outside the event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from .errors import InvalidInput
from .ids import new_event_id, new_run_id
from .periods import DURATION_PATTERN, Freq
from .schema import DatasetSchema

Scalar = str | int | float | bool | None
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Stage = Literal["None", "Staging", "Production", "Archived"]
Severity = Literal["error", "warning", "info"]
RunStatus = Literal["success", "failed", "aborted"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Envelope shared by every kind. ``kind`` is the tag, written by msgspec itself."""

    event_id: str = msgspec.field(default_factory=new_event_id)
    schema_version: int = 1
    occurred_at: UtcDatetime = msgspec.field(default_factory=utcnow)

    # (stream prefix, field naming the stream): ``model/fraud``, ``run/<id>``...
    stream_of: ClassVar[tuple[str, str]] = ("", "")

    @property
    def kind(self) -> str:
        return type(self).__struct_config__.tag  # type: ignore[return-value]

    @property
    def stream(self) -> str:
        prefix, field = self.stream_of
        return f"{prefix}/{getattr(self, field)}"


class ExperimentCreated(Event, tag="experiment.created", kw_only=True):
    stream_of = ("experiment", "experiment")
    experiment: str
    tags: dict[str, str] = {}


class RunStarted(Event, tag="run.started", kw_only=True):
    stream_of = ("run", "run_id")
    run_id: str = msgspec.field(default_factory=new_run_id)
    experiment: str | None = None
    name: str | None = None
    job: str | None = None
    params: dict[str, Scalar] = {}
    tags: dict[str, str] = {}
    parent_run_id: str | None = None  # nested runs: the run this one belongs to


class ParamLogged(Event, tag="run.param_logged", kw_only=True):
    stream_of = ("run", "run_id")
    run_id: str
    key: str
    value: Scalar


class MetricLogged(Event, tag="run.metric_logged", kw_only=True):
    """Schema 2 added ``step``; schema-1 events are upcast with ``step=0``."""

    stream_of = ("run", "run_id")
    schema_version: int = 2
    run_id: str
    key: str
    value: float
    step: int = 0

    @staticmethod
    def upcast_v1_v2(obj: dict[str, Any]) -> dict[str, Any]:
        """Schema 1 metrics had no step: they were all step 0."""
        return {**obj, "step": obj.get("step", 0)}


class TagSet(Event, tag="run.tag_set", kw_only=True):
    stream_of = ("run", "run_id")
    run_id: str
    key: str
    value: str


class RunFinished(Event, tag="run.finished", kw_only=True):
    stream_of = ("run", "run_id")
    run_id: str
    status: RunStatus
    error: str | None = None


class RunDeleted(Event, tag="run.deleted", kw_only=True):
    """Hides a run from the views; the audit keeps it (and ``run.restored`` brings it back)."""

    stream_of = ("run", "run_id")
    run_id: str
    reason: str | None = None


class RunRestored(Event, tag="run.restored", kw_only=True):
    stream_of = ("run", "run_id")
    run_id: str


class ConfigDeclared(Event, tag="config.declared", kw_only=True):
    stream_of = ("config", "name")
    name: str
    config_hash: str
    config: dict[str, Any] = {}


class ArtifactRegistered(Event, tag="artifact.registered", kw_only=True):
    stream_of = ("artifact", "name")
    name: str
    uri: str
    config_hash: str | None = None
    content_hash: str | None = None
    size_bytes: int | None = None
    run_id: str | None = None
    inputs: list[str] = []
    schema: dict[str, Any] | None = None


class ArtifactRetired(Event, tag="artifact.retired", kw_only=True):
    stream_of = ("artifact", "name")
    name: str
    reason: str | None = None


class ModelVersionRegistered(Event, tag="model.version_registered", kw_only=True):
    """``version`` 0 means "assign the next one": the store does, inside the commit."""

    stream_of = ("model", "model")
    model: str
    version: int = 0
    artifact_uri: str | None = None
    framework: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = {}
    params: dict[str, Scalar] = {}
    tags: dict[str, str] = {}


class ModelStageChanged(Event, tag="model.stage_changed", kw_only=True):
    """``previous_stage`` is filled by the store from the log at commit time."""

    stream_of = ("model", "model")
    model: str
    version: int
    stage: Stage
    previous_stage: Stage | None = None
    reason: str | None = None


class ModelAliasSet(Event, tag="model.alias_set", kw_only=True):
    stream_of = ("model", "model")
    model: str
    alias: str
    version: int


class DatasetDeclared(Event, tag="dataset.declared", kw_only=True):
    """Schema 2 types ``schema`` (``store/schema.py``; v1 dict shapes are upcast) and adds
    ``due_after``: the grace after a period's end before it is expected (``6h``, ``2d``)."""

    stream_of = ("dataset", "dataset")
    schema_version: int = 2
    dataset: str
    freq: Freq = "D"
    start: date | None = None
    end: date | None = None
    partition_key: list[str] = msgspec.field(default_factory=lambda: ["date"])
    schema: DatasetSchema | None = None
    due_after: Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN)] | None = None

    @staticmethod
    def upcast_v1_v2(obj: dict[str, Any]) -> dict[str, Any]:
        """Schema 1 held the schema in whichever shape its producer wrote (``{col: type}``, the
        stage's ``{"columns", "schema_hash"}``, Spark ``{"fields"}``): read them all as one type."""
        try:
            schema = DatasetSchema.parse(obj.get("schema"))
        except InvalidInput:
            return obj  # not a schema at all: the event stays raw rather than guessed
        return {**obj, "schema": msgspec.to_builtins(schema) if schema is not None else None}


class PartitionObserved(Event, tag="partition.observed", kw_only=True):
    stream_of = ("dataset", "dataset")
    dataset: str
    partition: str
    uri: str | None = None
    rows: int | None = None
    bytes: int | None = None
    checksum: str | None = None
    schema_hash: str | None = None


class PartitionRemoved(Event, tag="partition.removed", kw_only=True):
    stream_of = ("dataset", "dataset")
    dataset: str
    partition: str
    uri: str | None = None


class ValidationRecorded(Event, tag="validation.recorded", kw_only=True):
    stream_of = ("validation", "target")
    target: str
    check: str
    severity: Severity = "error"
    passed: bool
    observed: Any = None
    expected: Any = None
    failed_count: int | None = None
    details: Any = None
    run_id: str | None = None


class IngestCheckpoint(Event, tag="ingest.checkpoint", kw_only=True):
    stream_of = ("source", "source")
    source: str
    cursor: Any = None
    batch: int = 0


class ConsumerPosition(Event, tag="consumer.position", kw_only=True):
    """A subscriber's durable position: it has handled every event up to (version, seq).

    ``error`` (with ``attempts``) records a delivery that failed at that position.
    """

    stream_of = ("consumer", "consumer")
    consumer: str
    version: int
    seq: int = -1
    error: str | None = None
    attempts: int = 0


class LineageReceived(Event, tag="lineage.received", kw_only=True):
    """An OpenLineage event, kept whole in ``raw``; ``subject`` is its job (or dataset) id."""

    stream_of = ("lineage", "subject")
    subject: str
    event_type: str | None = None
    run_id: str | None = None
    inputs: list[str] = []
    outputs: list[str] = []
    raw: dict[str, Any] = {}


class RawEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event this version of lakeledger cannot type (unknown kind or newer schema).

    Readers return it as-is instead of failing, so old tools keep working on new logs.
    """

    event_id: str
    kind: str
    schema_version: int
    occurred_at: datetime | None
    data: dict[str, Any]

    @property
    def stream(self) -> str:
        return str(self.data.get("stream", ""))


KINDS: dict[str, type[Event]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        ExperimentCreated,
        RunStarted,
        ParamLogged,
        MetricLogged,
        TagSet,
        RunFinished,
        RunDeleted,
        RunRestored,
        ConfigDeclared,
        ArtifactRegistered,
        ArtifactRetired,
        ModelVersionRegistered,
        ModelStageChanged,
        ModelAliasSet,
        DatasetDeclared,
        PartitionObserved,
        PartitionRemoved,
        ValidationRecorded,
        IngestCheckpoint,
        ConsumerPosition,
        LineageReceived,
    )
}

AnyEvent = (
    ExperimentCreated
    | RunStarted
    | ParamLogged
    | MetricLogged
    | TagSet
    | RunFinished
    | RunDeleted
    | RunRestored
    | ConfigDeclared
    | ArtifactRegistered
    | ArtifactRetired
    | ModelVersionRegistered
    | ModelStageChanged
    | ModelAliasSet
    | DatasetDeclared
    | PartitionObserved
    | PartitionRemoved
    | ValidationRecorded
    | IngestCheckpoint
    | ConsumerPosition
    | LineageReceived
)


def current_schema_version(kind: str) -> int:
    return KINDS[kind].__struct_defaults__[KINDS[kind].__struct_fields__.index("schema_version")]
