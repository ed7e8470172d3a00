"""OpenLineage events -> lakeledger events.

Every OpenLineage event becomes one ``lineage.received`` (the raw event, whole: facets included;
the lineage view reads inputs and outputs from it) plus what lakeledger's own views understand:
- a RunEvent's run: ``run.started`` (job ``namespace/name``) and, on COMPLETE / FAIL / ABORT,
  ``run.finished`` with status success / failed / aborted (FAIL's ``errorMessage`` as the error);
- schema facets and data-quality facets (``dataQualityAssertions``, ``dataQualityMetrics``,
  ``outputStatistics``) of its datasets: ``validation.recorded`` on target ``namespace/name``.

Event ids are derived from the raw event's content, so an event sent twice (a client retrying)
is stored once: the store skips ids already in the log. ``run.started`` has one id per run,
so a COMPLETE arriving without its START still shows the run, and a START after it is skipped.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from lakeledger.store.events import (
    Event,
    LineageReceived,
    RunFinished,
    RunStarted,
    ValidationRecorded,
)

from .envelope import Dataset, DatasetEvent, Envelope, JobEvent, RunEvent

_FINISHED = {"COMPLETE": "success", "FAIL": "failed", "ABORT": "aborted"}
_canonical = msgspec.json.Encoder(order="sorted")


def derived_id(*parts: str) -> str:
    """A UUID-shaped id determined by ``parts`` (version nibble 8: custom, RFC 9562)."""
    h = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    h = h[:12] + "8" + h[13:16] + "a" + h[17:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def to_events(raw: dict[str, Any], envelope: Envelope) -> list[Event]:
    """The lakeledger events for one validated OpenLineage event (``raw`` as received)."""
    key = hashlib.sha256(_canonical.encode(raw)).hexdigest()
    when = envelope.eventTime
    events: list[Event] = []
    if isinstance(envelope, DatasetEvent):
        subject, datasets = envelope.dataset.id, [envelope.dataset]
        inputs: list[Dataset] = []
        outputs: list[Dataset] = []
        run_id = event_type = None
    else:
        subject, inputs, outputs = envelope.job.id, envelope.inputs, envelope.outputs
        datasets = [*inputs, *outputs]
        run_id = envelope.run.runId if isinstance(envelope, RunEvent) else None
        event_type = envelope.eventType if isinstance(envelope, RunEvent) else "JOB"
    events.append(
        LineageReceived(
            event_id=derived_id("lineage", key),
            occurred_at=when,
            subject=subject,
            event_type=event_type if not isinstance(envelope, DatasetEvent) else "DATASET",
            run_id=run_id,
            inputs=[d.id for d in inputs],
            outputs=[d.id for d in outputs],
            raw=raw,
        )
    )
    if isinstance(envelope, RunEvent):
        events += _run_events(envelope)
    for dataset in datasets:
        events += _validations(dataset, run_id, key, when)
    return events


def _run_events(e: RunEvent) -> list[Event]:
    run_id = e.run.runId
    started = RunStarted(
        event_id=derived_id("run.started", run_id),
        occurred_at=e.eventTime,
        run_id=run_id,
        job=e.job.id,
        name=e.job.name,
        tags={"openlineage.namespace": e.job.namespace, "openlineage.producer": e.producer},
    )
    out: list[Event] = [started]
    if e.eventType in _FINISHED:
        error = e.run.facets.get("errorMessage")
        out.append(
            RunFinished(
                event_id=derived_id("run.finished", run_id),
                occurred_at=e.eventTime,
                run_id=run_id,
                status=_FINISHED[e.eventType],  # type: ignore[arg-type]
                error=str(error.get("message")) if isinstance(error, dict) and "message" in error else None,
            )
        )
    return out


def _validations(d: Dataset, run_id: str | None, key: str, when: Any) -> list[Event]:
    """Schema and data-quality facets as validations of the dataset ``namespace/name``."""
    facets = {**d.facets, **d.inputFacets, **d.outputFacets}
    found: list[tuple[str, bool, Any, str]] = []  # (check, passed, observed, severity)
    schema = facets.get("schema")
    if isinstance(schema, dict) and isinstance(schema.get("fields"), list):
        fields = {str(f.get("name")): f.get("type") for f in schema["fields"] if isinstance(f, dict)}
        found.append(("openlineage.schema", True, fields, "info"))
    assertions = facets.get("dataQualityAssertions")
    if isinstance(assertions, dict):
        for a in assertions.get("assertions") or []:
            if isinstance(a, dict) and "assertion" in a:
                check = a["assertion"] + (f"({a['column']})" if a.get("column") else "")
                found.append((check, bool(a.get("success")), a, "error"))
    for name in ("dataQualityMetrics", "outputStatistics"):
        metrics = facets.get(name)
        if isinstance(metrics, dict):
            observed = {k: v for k, v in metrics.items() if not k.startswith("_")}
            found.append((f"openlineage.{name}", True, observed, "info"))
    return [
        ValidationRecorded(
            event_id=derived_id("validation", key, d.id, check),
            occurred_at=when,
            target=d.id,
            check=check,
            passed=passed,
            observed=observed,
            severity=severity,  # type: ignore[arg-type]
            run_id=run_id,
        )
        for check, passed, observed, severity in found
    ]


__all__ = ["JobEvent", "derived_id", "to_events"]
