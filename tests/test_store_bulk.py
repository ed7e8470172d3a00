"""Metric events built in bulk (``store.bulk.metric_rows``) are the rows ``codec.encode`` makes
of the same ``MetricLogged`` events: same columns, payloads decoding to equal events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.store import Ledger, bulk, codec
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput
from lakeledger.store.identity import Writer

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WRITER = Writer(user="u", host="h", pid=1, version="v")

points = st.lists(
    st.tuples(
        st.sampled_from(["run-a", "run b", "r\u00e9"]),
        st.text(min_size=1, max_size=8),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(0, 10**12),  # microseconds after T0
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(points=points)
def test_bulk_rows_equal_encoded_events(points: list[tuple[str, str, float, int, int]]) -> None:
    events = [
        ev.MetricLogged(
            run_id=run, key=key, value=value, step=step, occurred_at=T0 + timedelta(microseconds=us)
        )
        for run, key, value, step, us in points
    ]
    frame = pl.DataFrame(
        {
            "event_id": [e.event_id for e in events],
            "occurred_at": [e.occurred_at for e in events],
            "run_id": [e.run_id for e in events],
            "key": [e.key for e in events],
            "value": [e.value for e in events],
            "step": [e.step for e in events],
        },
        schema=bulk.COLUMNS,
    )
    options = {"version": 3, "recorded_at": T0, "writer": WRITER, "batch_id": "b"}
    ours = codec.encode(bulk.metric_rows(frame), **options)
    theirs = codec.encode(events, **options)
    assert ours.schema == theirs.schema
    assert ours.drop(["payload"]).equals(theirs.drop(["payload"]))
    for mine, expected in zip(ours["payload"].to_pylist(), theirs["payload"].to_pylist(), strict=True):
        assert codec.decode_payload(mine) == codec.decode_payload(expected), (mine, expected)


def test_unusable_rows_are_refused_naming_the_row(tmp_path) -> None:
    frame = pl.DataFrame(
        {"event_id": ["a", "b"], "occurred_at": [T0, T0], "run_id": ["r", " "], "key": ["k", "k"],
         "value": [1.0, 2.0], "step": [0, 1]},
        schema=bulk.COLUMNS,
    )
    with pytest.raises(InvalidInput, match="metric row 1"):
        bulk.metric_rows(frame)
    with pytest.raises(InvalidInput, match="step"):
        bulk.metric_rows(frame.drop("step"))


def test_append_rows_commits_readable_events(tmp_path) -> None:
    frame = pl.DataFrame(
        {"event_id": ["01900000-0000-7000-8000-000000000001"], "occurred_at": [T0], "run_id": ["r"],
         "key": ["loss"], "value": [0.5], "step": [7]},
        schema=bulk.COLUMNS,
    )
    with Ledger.open(tmp_path / "l") as led:
        done = led.append_rows(bulk.metric_rows(frame))
        assert done.version == 1
        [event] = led.read(kind="run.metric_logged")
    assert event == ev.MetricLogged(
        event_id="01900000-0000-7000-8000-000000000001", occurred_at=T0, run_id="r", key="loss",
        value=0.5, step=7,
    )
