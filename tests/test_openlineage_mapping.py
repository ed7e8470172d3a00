"""OpenLineage -> lakeledger events, and the lineage view: pure parts, with property tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.openlineage import parse
from lakeledger.projections.views import lineage
from lakeledger.store.errors import InvalidInput

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def run_event(event_type: str | None, run_id: str, job: str = "etl", ins: list[str] | None = None,
              outs: list[str] | None = None, **run_facets: object) -> dict:
    event = {"eventTime": T0.isoformat(), "producer": "p", "schemaURL": "https://openlineage.io/spec/1-0-5/x.json",
             "run": {"runId": run_id, "facets": run_facets}, "job": {"namespace": "ns", "name": job},
             "inputs": [{"namespace": "db", "name": n} for n in ins or []],
             "outputs": [{"namespace": "lake", "name": n} for n in outs or []]}
    if event_type is not None:
        event["eventType"] = event_type
    return event


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def test_run_events_map_to_runs_with_status_and_keep_the_raw_event() -> None:
    run_id = str(uuid.uuid4())
    start = parse(json.dumps(run_event("START", run_id, ins=["a"], outs=["b"])).encode(), "t")
    assert kinds(start) == ["lineage.received", "run.started"]
    assert start[0].raw["run"]["runId"] == run_id and start[0].inputs == ["db/a"] and start[0].outputs == ["lake/b"]
    assert start[1].run_id == run_id and start[1].job == "ns/etl"
    fail = parse(json.dumps(run_event("FAIL", run_id, errorMessage={"message": "boom",
                                                                    "programmingLanguage": "python"})).encode(), "t")
    assert kinds(fail) == ["lineage.received", "run.started", "run.finished"]
    assert fail[2].status == "failed" and fail[2].error == "boom"
    assert fail[1].event_id == start[1].event_id  # one run.started per run, whichever event came first
    for event_type, status in (("COMPLETE", "success"), ("ABORT", "aborted")):
        assert parse(json.dumps(run_event(event_type, run_id)).encode(), "t")[2].status == status
    for event_type in ("RUNNING", "OTHER", None):
        assert kinds(parse(json.dumps(run_event(event_type, run_id)).encode(), "t")) == [
            "lineage.received", "run.started"]


def test_dataset_and_job_events_and_facets_to_validations() -> None:
    dataset_event = {"eventTime": "2025-03-01T12:00:00", "producer": "p", "schemaURL": "u",
                     "dataset": {"namespace": "db", "name": "orders", "facets": {"schema": {"fields": [
                         {"name": "id", "type": "int"}]}}}}
    events = parse(json.dumps(dataset_event).encode(), "t")
    assert kinds(events) == ["lineage.received", "validation.recorded"]
    assert events[0].subject == "db/orders" and events[0].event_type == "DATASET"
    assert events[0].occurred_at == datetime(2025, 3, 1, 12, tzinfo=UTC)  # no zone given: UTC
    assert events[1].target == "db/orders" and events[1].observed == {"id": "int"}
    job_event = {"eventTime": T0.isoformat(), "producer": "p", "job": {"namespace": "ns", "name": "j"},
                 "inputs": [{"namespace": "db", "name": "a", "inputFacets": {"dataQualityAssertions": {
                     "assertions": [{"assertion": "unique", "success": False, "column": "id"}]}}}]}
    events = parse(json.dumps(job_event).encode(), "t")
    assert kinds(events) == ["lineage.received", "validation.recorded"]
    assert events[0].event_type == "JOB" and events[1].check == "unique(id)" and events[1].passed is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"eventTime": "2025-01-01T00:00:00Z", "producer": "p", "run": {}, "job": {"namespace": "n", "name": "j"}}',
         "runId"),
        (b'{"producer": "p", "job": {"namespace": "n", "name": "j"}}', "eventTime"),
        (b'{"eventTime": "yesterday", "producer": "p", "job": {"namespace": "n", "name": "j"}}', "eventTime"),
        (b'{"eventTime": "2025-01-01T00:00:00Z", "producer": "p", "eventType": "DONE", "run": {"runId": "r"}, '
         b'"job": {"namespace": "n", "name": "j"}}', "eventType"),
        (b"[1]", "JSON object"),
        (b"", "empty"),
        (b'{"eventTime": "2025-01-01T00:00:00Z"}\n{oops', "t:2"),
    ],
)
def test_invalid_openlineage_names_the_field(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(body, "t")
    assert fragment in str(caught.value)


def rows(events: list, start_version: int = 1) -> pl.LazyFrame:
    return pl.LazyFrame({
        "kind": [e.kind for e in events],
        "version": [start_version + i for i in range(len(events))],
        "recorded_at": [T0 + timedelta(seconds=i) for i in range(len(events))],
        "payload": [msgspec.json.encode(e).decode() for e in events],
    }, schema_overrides={"recorded_at": pl.Datetime("us", "UTC")})


NAMES = st.sampled_from(["a", "b", "c", "d"])
OL_EVENTS = st.lists(
    st.builds(lambda t, run, job, ins, outs: run_event(t, f"00000000-0000-4000-8000-00000000000{run}", job, ins, outs),
              st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"]),
              st.integers(0, 3), st.sampled_from(["j1", "j2"]), st.lists(NAMES, max_size=2),
              st.lists(NAMES, max_size=2)),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(OL_EVENTS, st.randoms())
def test_resent_and_reordered_events_give_the_same_ids_and_lineage(events: list[dict], rnd) -> None:  # type: ignore[no-untyped-def]
    first = [e for ev_ in events for e in parse(json.dumps(ev_).encode(), "t")]
    shuffled = events + events
    rnd.shuffle(shuffled)
    again = [e for ev_ in shuffled for e in parse(json.dumps(ev_).encode(), "t")]
    assert {e.event_id for e in first} == {e.event_id for e in again}  # a resend is a duplicate id
    kept = list({e.event_id: e for e in again}.values())  # what the store keeps: one per id
    a, b = lineage.edges(rows(first)), lineage.edges(rows(kept))
    assert a.select("source", "target", "role").sort("source", "target").equals(
        b.select("source", "target", "role").sort("source", "target"))


@settings(max_examples=60, deadline=None)
@given(OL_EVENTS, st.integers(0, 4))
def test_a_deeper_neighbourhood_contains_the_shallower_one(events: list[dict], depth: int) -> None:
    edge_frame = lineage.edges(rows([e for ev_ in events for e in parse(json.dumps(ev_).encode(), "t")]))
    for node in lineage.nodes(rows([e for ev_ in events for e in parse(json.dumps(ev_).encode(), "t")])):
        near = {(r["source"], r["target"]) for r in lineage.neighbourhood(edge_frame, node, depth)["edges"]}
        far = {(r["source"], r["target"]) for r in lineage.neighbourhood(edge_frame, node, depth + 1)["edges"]}
        assert near <= far
        if depth == 0:
            assert near == set()
        for source, target in near:
            assert node in (source, target) or depth > 1
