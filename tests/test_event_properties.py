"""Any event a door accepts is readable by every reader (issue 11 item 11), and every kind
round-trips through the codec, upcasting and every view that reads it (issue 10, proof)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger import Ledger
from lakeledger.projections import api, registry
from lakeledger.projections.audit import audit
from lakeledger.projections.views import lineage
from lakeledger.projections.views.ingest_status import ingest_status
from lakeledger.store import events as ev
from lakeledger.store.codec import decode_payload, encode, upcast
from lakeledger.store.errors import InvalidInput, LedgerError
from lakeledger.store.events import KINDS, current_schema_version
from lakeledger.store.identity import Writer

from .event_strategies import events

# Readers outside the registry, each a public function of the log's rows.
EXTRA_READERS: dict[str, tuple[tuple[str, ...], Callable[[Ledger], Any]]] = {
    "ingest_status": (
        ("ingest.checkpoint", "run.started", "run.finished", "run.metric_logged"),
        lambda led: ingest_status(led.events(kind=["ingest.checkpoint", "run.*"])),
    ),
    "lineage": (("lineage.received",), lambda led: pl.DataFrame(
        {"node": list(lineage.nodes(led.events(kind="lineage.received")))}, schema={"node": pl.String})),
    "subscription": (
        ("consumer.position",),
        lambda led: led.events(kind="consumer.position").collect().select("version", "payload"),
    ),
}


def _every_reader(ledger: Ledger) -> None:
    for name in registry.VIEWS:
        ledger.view(name)
        ledger.view(name, as_of=ledger.version)
    api.refresh(ledger, full=True)
    ledger.check()
    for _, read in EXTRA_READERS.values():
        read(ledger)
    for stream in ledger.events().select("stream").unique().collect()["stream"].to_list()[:5]:
        audit(ledger.events(), stream)


@settings(max_examples=int(os.environ.get("LAKELEDGER_EXAMPLES", "25")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=6))
def test_any_accepted_event_is_readable_by_every_reader(batch: list[ev.Event]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Ledger.open(Path(tmp) / "l") as ledger:
        accepted: list[ev.Event] = []
        for event in batch:
            try:
                accepted += ledger.append([event]).events
            except InvalidInput:
                continue  # refused at the door, with an error: fine
            except LedgerError as exc:  # e.g. a stage change racing nothing: still no crash
                assert exc.exit_code in (1, 2)
        read = ledger.read()
        assert read == accepted  # the mapper gives back exactly what was committed
        _every_reader(ledger)


# -- every kind: codec, upcasting, the views that read it ---------------------------------

BASE = [
    ev.RunStarted(run_id="r1", job="ingest/src", params={"source": "src"}),
    ev.DatasetDeclared(dataset="sales", freq="D"),
    ev.PartitionObserved(dataset="sales", partition="date=2025-01-01"),
    ev.ConfigDeclared(name="m.pkl", config_hash="h1"),
    ev.ArtifactRegistered(name="m.pkl", uri="m.pkl", config_hash="h1", inputs=["dataset/sales"]),
    ev.ModelVersionRegistered(model="fraud", run_id="r1"),
]

NAMED = {
    "run_id": "r1", "model": "fraud", "dataset": "sales", "name": "m.pkl", "target": "sales",
    "partition": "date=2025-01-02", "source": "src", "experiment": "exp", "version": 1,
    "stage": "Production", "status": "success", "key": "k", "config_hash": "h2", "uri": "m.pkl",
}

# what makes the sample of a kind news to the views reading it, given BASE
OVERRIDES: dict[str, dict[str, Any]] = {
    "dataset.declared": {"freq": "M"},
    "partition.removed": {"partition": "date=2025-01-01"},
    "run.metric_logged": {"key": "records_written", "value": 7.0},
    "run.started": {"run_id": "r2", "job": "ingest/src", "params": {"source": "src"}},
}


def sample(kind: str) -> ev.Event:
    """A well-formed event of ``kind`` about the subjects of ``BASE``, built from its type info."""
    cls = KINDS[kind]
    values: dict[str, Any] = {}
    for f in msgspec.inspect.type_info(cls).fields:  # type: ignore[union-attr]
        if f.name in ("event_id", "schema_version", "occurred_at"):
            continue
        if f.name in NAMED:
            values[f.name] = NAMED[f.name]
        elif f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT:
            values[f.name] = {"str": "x", "bool": True, "float": 0.5}.get(
                type(f.type).__name__.removesuffix("Type").lower(), "x"
            )
    values.update(OVERRIDES.get(kind, {}))
    if kind == "model.version_registered":
        values.pop("version")  # assigned by the store
    if kind == "model.alias_set":
        values["alias"] = "champion"
    return msgspec.convert(values, cls)


def _state_and_view(ledger: Ledger, name: str) -> pl.DataFrame:
    state, _ = api.state_of(ledger, name)
    parts = [frame.sort(frame.columns[0]).select(pl.struct(pl.all()).alias(part))
             for part, frame in sorted(state.items())]
    shown = ledger.view(name).select(pl.struct(pl.all()).alias("view"))
    return pl.concat([*parts, shown], how="diagonal_relaxed")


def _readers_of(kind: str) -> list[tuple[str, Callable[[Ledger], Any]]]:
    """(name, read) of every view reading ``kind``; a registered view is read as its state and
    its presentation, so an event it folds in shows even where the table looks the same."""
    out: list[tuple[str, Callable[[Ledger], Any]]] = [
        (name, lambda led, n=name: _state_and_view(led, n))
        for name, v in registry.VIEWS.items() if kind in v.kinds
    ]
    out += [(name, read) for name, (kinds, read) in EXTRA_READERS.items() if kind in kinds]
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips_through_codec_upcasting_and_views(kind: str, tmp_path: Path) -> None:
    event = sample(kind)
    # codec: rows and back
    rows = encode([event], version=1, recorded_at=event.occurred_at,
                  writer=Writer("u", "h", 1, "t"), batch_id="b")
    assert decode_payload(rows["payload"][0].as_py()) == event
    # upcasting: the stored object at every older schema version reads as the current event
    obj = msgspec.to_builtins(event)
    for old in range(1, current_schema_version(kind)):
        assert upcast({**obj, "schema_version": old}) == event
    # every view that reads the kind sees it
    ledger = Ledger.open(tmp_path / "l")
    (tmp_path / "l" / "m.pkl").write_bytes(b"model")  # present: staleness shows more than "missing"
    ledger.append(BASE)
    readers = _readers_of(kind)
    before = {name: read(ledger) for name, read in readers}
    committed = ledger.append([event]).events[0]
    assert ledger.read(kind=kind)[-1] == committed
    for name, read in readers:
        after = read(ledger)
        assert isinstance(after, pl.DataFrame)
        assert not after.equals(before[name]), f"{name} did not change for {kind}"
    if kind != "experiment.created":  # read by no view (yet): only the mapper
        assert readers, f"no view reads {kind}"
