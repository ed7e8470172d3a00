"""Event vocabulary: defaults, tags, validation errors, upcasting, unknown kinds, hashing."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lakeledger.store import HashableConfig, config_hash
from lakeledger.store import events as ev
from lakeledger.store.codec import decode_payload
from lakeledger.store.events import KINDS, RawEvent
from lakeledger.store.ids import new_event_id


def test_every_kind_of_the_vocabulary_exists() -> None:
    assert set(KINDS) == {
        "experiment.created", "run.started", "run.param_logged", "run.metric_logged",
        "run.tag_set", "run.finished", "run.deleted", "run.restored", "config.declared", "artifact.registered",
        "artifact.retired", "model.version_registered", "model.stage_changed",
        "model.alias_set", "dataset.declared", "partition.observed", "partition.removed",
        "validation.recorded", "ingest.checkpoint", "consumer.position", "lineage.received",
    }


def test_envelope_defaults_and_stream() -> None:
    e = ev.RunStarted(job="train")
    assert e.kind == "run.started"
    assert len(e.event_id) == 36 and e.event_id[14] == "7"  # UUIDv7
    assert e.occurred_at.tzinfo is not None
    assert e.run_id and e.stream == f"run/{e.run_id}"
    assert ev.ModelVersionRegistered(model="fraud").stream == "model/fraud"
    with pytest.raises(AttributeError):
        e.job = "other"  # type: ignore[misc]  # frozen


def test_uuid7_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_json_roundtrip_through_the_tagged_union() -> None:
    e = ev.ValidationRecorded(target="sales", check="rows", passed=False, observed=3,
                              expected={"min": 10}, failed_count=7)
    back = msgspec.json.decode(msgspec.json.encode(e), type=ev.AnyEvent)
    assert back == e


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b'{"kind":"run.metric_logged","run_id":"r","key":"k","value":"x"}', "$.value"),
        (b'{"kind":"run.finished","run_id":"r","status":"done"}', "$.status"),
        (b'{"kind":"model.stage_changed","model":"m","version":1,"stage":"Prod"}', "$.stage"),
        (b'{"kind":"run.finished","run_id":"r","status":"failed",'
         b'"occurred_at":"2025-01-01T00:00:00"}', "timezone"),
    ],
)
def test_invalid_fields_are_named(line: bytes, fragment: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=fragment.replace("$", r"\$")):
        msgspec.json.decode(line, type=ev.AnyEvent)


def test_old_schema_versions_are_upcast_on_read() -> None:
    v1 = ('{"kind":"run.metric_logged","schema_version":1,"event_id":"e1",'
          '"occurred_at":"2025-01-01T00:00:00Z","run_id":"r","key":"loss","value":0.5}')
    e = decode_payload(v1)
    assert isinstance(e, ev.MetricLogged)
    assert (e.schema_version, e.step, e.value) == (2, 0, 0.5)


@pytest.mark.parametrize(
    "payload",
    [
        '{"kind":"drift.detected","schema_version":1,"event_id":"e2","occurred_at":"2025-01-01T00:00:00Z","x":1}',
        '{"kind":"run.tag_set","schema_version":9,"event_id":"e3","occurred_at":"2025-01-01T00:00:00Z",'
        '"run_id":"r","key":"k","value":"v","new_field":true}',
    ],
)
def test_unknown_kinds_and_newer_versions_come_back_raw(payload: str) -> None:
    e = decode_payload(payload)
    assert isinstance(e, RawEvent)
    assert e.occurred_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert e.data["event_id"] in {"e2", "e3"}


class FeatureConfig(HashableConfig):
    window_days: int = 7
    features: list[str] = []
    threshold: float = 0.25
    options: dict[str, int] = {}


def test_config_hash_ignores_field_and_key_order() -> None:
    a = FeatureConfig(features=["a", "b"], options={"x": 1, "y": 2})
    b = FeatureConfig(options={"y": 2, "x": 1}, features=["a", "b"])
    assert a.config_hash == b.config_hash
    assert config_hash({"b": 1, "a": [1.5, None]}) == config_hash({"a": [1.5, None], "b": 1})
    assert a.config_hash != FeatureConfig(features=["b", "a"]).config_hash


def test_config_hash_is_the_same_in_another_process() -> None:
    cfg = {"lr": 0.1, "layers": [64, 32], "name": "ünïcode", "nested": {"z": 1e-9, "a": True}}
    code = (
        "import sys, json; from lakeledger.store import config_hash; "
        "print(config_hash(json.loads(sys.argv[1])))"
    )
    out = subprocess.run([sys.executable, "-c", code, msgspec.json.encode(cfg).decode()],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == config_hash(cfg)
    # pinned: a change of canonical form would silently make every artifact stale
    assert config_hash({"a": 1}) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5),
                                                        st.booleans(), st.none()), max_size=6))
def test_config_hash_is_insensitive_to_insertion_order(d: dict[str, object]) -> None:
    assert config_hash(d) == config_hash(dict(reversed(list(d.items()))))
