"""One mapper from rows to events: upcasters on the event classes, view types derived from them,
producers reading through ``Ledger.read``, one dedupe of event rows."""

from __future__ import annotations

import importlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from lakeledger import Ledger
from lakeledger.projections.engine import payload
from lakeledger.store import events as ev
from lakeledger.store.codec import encode
from lakeledger.store.events import KINDS, current_schema_version
from lakeledger.store.identity import Writer

SRC = Path(__file__).resolve().parents[1]


def _sources(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((SRC / pkg).rglob("*.py"))]


def test_upcasters_live_on_their_event_classes() -> None:
    for kind, cls in KINDS.items():
        for v in range(1, current_schema_version(kind)):
            assert callable(getattr(cls, f"upcast_v{v}_v{v + 1}", None)), (kind, v)
    with pytest.raises(ImportError):
        importlib.import_module("lakeledger.store.upcast")  # no second registry


def _write_v1_metric(ledger: Ledger, run_id: str) -> None:
    """A row as lakeledger 0.x wrote it: schema 1 metrics had no ``step``."""
    path = ledger.location.root + "/events"
    version = DeltaTable(path).version() + 1
    old = ev.MetricLogged(run_id=run_id, key="loss", value=0.25, schema_version=1)
    table = encode([old], version=version, recorded_at=datetime.now(UTC),
                   writer=Writer("old", "host", 1, "0.1"), batch_id="old-batch")
    body = msgspec.json.decode(table["payload"][0].as_py())
    del body["step"]
    table = table.set_column(
        table.schema.get_field_index("payload"), "payload", [[json.dumps(body)]]
    )
    write_deltalake(path, table, mode="append")


def test_old_rows_are_upcast_for_every_reader(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger.open(tmp_path / "l")
    run = ledger.run("train")
    _write_v1_metric(ledger, run.run_id)
    [metric] = ledger.read(kind="run.metric_logged")
    assert isinstance(metric, ev.MetricLogged) and (metric.schema_version, metric.step) == (2, 0)
    stats = json.loads(ledger.view("runs")["metric_stats"][0])
    assert stats["loss"]["last"] == 0.25 and stats["loss"]["last_step"] == 0
    res = cli("--root", str(tmp_path / "l"), "events", "--json", "--kind", "run.metric_logged")
    [shown] = json.loads(res.out)
    assert (shown["schema_version"], shown["step"]) == (2, 0), shown


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_view_types_are_derived_from_the_event_classes(kind: str) -> None:
    cls = KINDS[kind]
    types = payload.dtypes(cls, list(cls.__struct_fields__))
    assert set(types) == set(cls.__struct_fields__)
    assert types["event_id"] == pl.String and types["occurred_at"] == pl.Datetime("us", "UTC")
    with pytest.raises(KeyError):
        payload.dtypes(cls, ["no_such_field"])


def test_no_view_hand_writes_payload_types_or_kind_names() -> None:
    offenders = []
    for path in _sources("projections"):
        if path.name == "payload.py":
            continue
        text = path.read_text()
        if re.search(r"json_decode|rows\([^)]*\"[a-z_]+\.[a-z_]+\"", text):
            offenders.append(path.name)
    assert offenders == []


def test_producers_read_events_through_the_mapper() -> None:
    """Producers may look at envelope columns (positions, streams) but decode payloads only
    through the store's mapper (``ledger.read``, ``codec.decode_payload``)."""
    decoding = re.compile(r"json_path_match|json_decode|json\.decode\([^)]*payload|Decoder\(")
    offenders = [str(p.relative_to(SRC)) for p in _sources("ingest") if decoding.search(p.read_text())]
    assert offenders == []


def test_one_dedupe_of_event_rows() -> None:
    offenders = [
        str(p.relative_to(SRC)) for p in _sources("store", "projections", "ingest", "cli")
        if re.search(r"over\(\"event_id\"\)", p.read_text()) and p.name != "query.py"
    ]
    assert offenders == []
