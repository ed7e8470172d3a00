"""The server's one-pass decoding of JSON array bodies (``append._typed_array``) accepts exactly
what ``lakeledger append``'s per-line validation accepts, and builds the same events."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.cli.commands.log import parse_lines
from lakeledger.cli.serve.append import _typed_array, events_from_body
from lakeledger.store import InvalidInput
from lakeledger.store.events import KINDS

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "Production", "1d"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """An event object: a well-formed event of some kind (built by hypothesis from the class's
    signature, so its values may still break a constraint), then perhaps changed: a field
    dropped, set to another JSON value, or one the kind does not have added."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    cls = KINDS[kind]
    try:
        event = draw(st.builds(cls))
        obj = msgspec.to_builtins(event)
    except Exception:  # noqa: BLE001 - a type hypothesis cannot build: start from the kind alone
        obj = {"kind": kind}
    for _ in range(draw(st.integers(0, 2))):
        action = draw(st.sampled_from(["drop", "set", "add"]))
        keys = sorted(k for k in obj if k != "kind")
        if action == "drop" and keys:
            obj.pop(draw(st.sampled_from(keys)))
        elif action == "set" and keys:
            obj[draw(st.sampled_from(keys))] = draw(JSON)
        elif action == "add":
            obj[draw(st.sampled_from(["colour", "runid", "kind2", "step"]))] = draw(JSON)
    obj.setdefault("event_id", "0190aaaa-0000-7000-8000-000000000001")  # defaults differ per call
    obj.setdefault("occurred_at", "2026-01-02T03:04:05Z")
    if kind == "run.started":
        obj.setdefault("run_id", "r1")
    return obj


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(objects(), min_size=1, max_size=3))
def test_one_pass_decoding_agrees_with_append_validation(objs: list[dict[str, Any]]) -> None:
    body = msgspec.json.encode(objs)
    lines = [msgspec.json.encode(o) for o in objs]
    try:
        expected = parse_lines(lines, None, "body")
    except InvalidInput:
        expected = None
    fast = _typed_array(body)
    if any(o.get("kind") == "dataset.declared" for o in objs):
        assert fast is None  # its schema shapes are normalised by parse_lines only
        return
    assert (fast is None) == (expected is None), (objs, expected)
    if fast is not None:
        assert [type(e) for e in fast] == [type(e) for e in expected]  # the vocabulary's own classes
        assert fast == expected


def test_a_bad_element_is_named_as_before() -> None:
    body = b'[{"kind":"validation.recorded","target":"t","check":"c","passed":true},' \
           b'{"kind":"validation.recorded","target":"t","check":"c","passed":true,"colour":1}]'
    with pytest.raises(InvalidInput) as err:
        events_from_body(body, "body")
    assert "body:2" in str(err.value) and "colour" in str(err.value)
    events, wheres = events_from_body(body.replace(b',"colour":1', b""), "body")
    assert len(events) == 2 and wheres == ["body:1", "body:2"]
