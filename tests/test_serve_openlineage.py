"""Proof: the real ``openlineage-python`` client (HttpTransport, api_key auth) talks to a running
``lakeledger serve``; the file transport's output goes through ``lakeledger lineage import``."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lakeledger.store import Ledger

from tests.serve_fixtures import CLI, TOKEN, Server

ol = pytest.importorskip("openlineage.client")
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState  # noqa: E402
from openlineage.client.facet_v2 import (  # noqa: E402
    data_quality_assertions_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport  # noqa: E402
from openlineage.client.transport.http import HttpConfig, HttpTransport  # noqa: E402

PRODUCER = "https://github.com/lakeledger/tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(str(tmp_path_factory.mktemp("ol") / "ledger")).start()
    yield srv
    assert srv.stop() == 0


def client(server: Server, key: str) -> ol.OpenLineageClient:
    config = HttpConfig.from_dict({"url": server.url, "timeout": 60,
                                   "auth": {"type": "api_key", "apiKey": key},
                                   "retry": {"total": 0}})
    return ol.OpenLineageClient(transport=HttpTransport(config))


def job_events(run_id: str, when: datetime, state_end: RunState = RunState.COMPLETE) -> list[RunEvent]:
    schema = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="id", type="BIGINT"),
        schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE")])
    assertions = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=[
        data_quality_assertions_dataset.Assertion(assertion="not_null", success=True, column="id"),
        data_quality_assertions_dataset.Assertion(assertion="row_count", success=False)])
    inputs = [InputDataset(namespace="postgres://db:5432", name="shop.orders", facets={"schema": schema},
                           inputFacets={"dataQualityAssertions": assertions})]
    outputs = [OutputDataset(namespace="s3://lake", name="gold/daily_sales",
                             outputFacets={"outputStatistics": output_statistics_output_dataset
                                           .OutputStatisticsOutputDatasetFacet(rowCount=42, size=4096)})]
    job = Job(namespace="airflow", name="sales.daily")
    return [
        RunEvent(eventType=RunState.START, eventTime=when.isoformat(), run=Run(runId=run_id), job=job,
                 producer=PRODUCER, inputs=inputs, outputs=outputs),
        RunEvent(eventType=state_end, eventTime=(when + timedelta(minutes=3)).isoformat(),
                 run=Run(runId=run_id), job=job, producer=PRODUCER, inputs=inputs, outputs=outputs),
    ]


def test_openlineage_client_start_complete_runs_and_lineage(server: Server) -> None:
    run_id = str(uuid.uuid4())
    start, complete = job_events(run_id, datetime.now(UTC) - timedelta(minutes=5))
    c = client(server, TOKEN)
    c.emit(start)
    after_start = Ledger.open(server.root, create=False).version
    c.emit(complete)

    status, runs = server.request("GET", f"/api/views/runs?where=run_id={run_id}")
    assert status == 200 and len(runs) == 1
    assert runs[0]["job"] == "airflow/sales.daily" and runs[0]["status"] in ("finished", "success")
    status, graph = server.request("GET", "/api/lineage/s3://lake/gold/daily_sales?depth=2")
    assert status == 200 and graph["node"] == {"id": "s3://lake/gold/daily_sales", "type": "dataset"}
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("postgres://db:5432/shop.orders", "airflow/sales.daily"),
        ("airflow/sales.daily", "s3://lake/gold/daily_sales"),
    }
    assert {n["id"]: n["type"] for n in graph["nodes"]}["airflow/sales.daily"] == "job"
    one_hop = server.request("GET", "/api/lineage/s3://lake/gold/daily_sales?depth=1")[1]
    assert [(e["source"], e["target"]) for e in one_hop["edges"]] == [
        ("airflow/sales.daily", "s3://lake/gold/daily_sales")]
    # as of before the START: no lineage yet for this dataset
    assert server.request("GET", f"/api/lineage/s3://lake/gold/daily_sales?as_of={after_start - 1}")[0] == 404
    status, checks = server.request("GET", "/api/views/validations?where=target=postgres://db:5432/shop.orders")
    by_check = {v["check"]: v["passed"] for v in checks}
    assert by_check["row_count"] is False and by_check["not_null(id)"] is True
    assert "openlineage.schema" in by_check
    # the raw event is kept whole, facets included
    status, raw = server.request("GET", "/api/events?kind=lineage.received&stream=lineage/airflow/sales.daily")
    kept = [r["raw"] for r in raw if r["run_id"] == run_id]
    assert len(kept) == 2 and kept[0]["inputs"][0]["facets"]["schema"]["fields"][0]["name"] == "id"
    assert kept[1]["eventType"] == "COMPLETE"


def test_wrong_token_is_401_and_nothing_written(server: Server) -> None:
    before = Ledger.open(server.root, create=False).version
    start, _ = job_events(str(uuid.uuid4()), datetime.now(UTC))
    with pytest.raises(Exception) as caught:
        client(server, "not-the-token").emit(start)
    assert "401" in str(caught.value)
    assert Ledger.open(server.root, create=False).version == before


def test_the_same_events_sent_twice_are_stored_once(server: Server) -> None:
    run_id = str(uuid.uuid4())
    events = job_events(run_id, datetime.now(UTC), RunState.FAIL)
    c = client(server, TOKEN)
    for event in events + events:
        c.emit(event)
    ledger = Ledger.open(server.root, create=False)
    rows = ledger.events(stream=f"run/{run_id}").collect()
    assert sorted(rows["kind"].to_list()) == ["run.finished", "run.started"]
    lineage = ledger.events(kind="lineage.received").collect()
    assert sum(run_id in p for p in lineage["payload"].to_list()) == 2


def test_lineage_import_of_the_file_transport(tmp_path: Path) -> None:
    log = tmp_path / "ol.jsonl"
    transport = FileTransport(FileConfig(log_file_path=str(log), append=True))
    run_id = str(uuid.uuid4())
    for event in job_events(run_id, datetime.now(UTC)):
        transport.emit(event)
    root = str(tmp_path / "ledger")
    done = subprocess.run([*CLI, "--root", root, "lineage", "import", str(log), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert '"appended":' in done.stdout
    again = subprocess.run([*CLI, "--root", root, "lineage", "import", "-", "--json"], input=log.read_text(),
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and '"appended":0' in again.stdout
    ledger = Ledger.open(root, create=False)
    assert ledger.events(stream=f"run/{run_id}").collect().height == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(log.read_text().splitlines()[0] + '\n{"eventTime": "2025-01-01T00:00:00Z", "run": {}}\n')
    before = ledger.version
    refused = subprocess.run([*CLI, "--root", root, "lineage", "import", str(bad)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 2 and f"{bad}:2" in refused.stderr and "Traceback" not in refused.stderr
    assert ledger.version == before
