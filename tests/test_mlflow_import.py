"""`lakeledger import mlflow` against a store built by the real mlflow package.

Skipped when mlflow is absent: it is an optional extra (``lakeledger[mlflow]``) and too heavy to
install in CI (about 6 minutes here, with numpy, pandas, scipy, scikit-learn).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
from lakeledger import Ledger
from lakeledger.ingest.importers.mlflow import import_mlflow
from lakeledger.store import events as ev

mlflow = pytest.importorskip("mlflow")
# stages are deprecated in MLflow 3 but still what its users have; sqlalchemy warns inside mlflow
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

STEPS = 1000  # 5 runs x 2 keys x 1000 steps = 10,000 metric points


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, MlflowClient]:
    base = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{base}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exps = [
        client.create_experiment(name, artifact_location=(base / "art" / name).as_uri())
        for name in ("churn", "fraud")
    ]
    t0 = 1_700_000_000_000
    statuses = ["FINISHED", "FINISHED", "FAILED", "KILLED", "RUNNING"]
    run_ids = []
    for i, status in enumerate(statuses):
        run = client.create_run(exps[i % 2], start_time=t0 + i * 10_000, run_name=f"run-{i}", tags={"team": "growth"})
        rid = run.info.run_id
        run_ids.append(rid)
        client.log_batch(
            rid,
            params=[Param("lr", str(0.01 * (i + 1))), Param("depth", str(i + 3)), Param("note", "it's ok")],
            tags=[RunTag("fold", str(i))],
        )
        for key in ("loss", "auc"):
            points = [
                Metric(key, (1.0 / (s + 1)) if key == "loss" else 0.5 + s / (2 * STEPS) - i / 100, t0 + i * 10_000 + s, s)
                for s in range(STEPS)
            ]
            for chunk in range(0, STEPS, 1000):
                client.log_batch(rid, metrics=points[chunk : chunk + 1000])
        if i == 0:
            art = base / "weights.bin"
            art.write_bytes(b"w" * 1234)
            client.log_artifact(rid, str(art), "model")
        if status != "RUNNING":
            client.set_terminated(rid, status, end_time=t0 + i * 10_000 + 5_000)

    client.create_registered_model("churn-model", tags={"owner": "ml"})
    for i in range(3):
        client.create_model_version("churn-model", f"{run_ids[i]}/model", run_id=run_ids[i])
    client.transition_model_version_stage("churn-model", "1", "Staging")
    client.transition_model_version_stage("churn-model", "1", "Production")
    client.transition_model_version_stage("churn-model", "2", "Staging")
    client.transition_model_version_stage("churn-model", "2", "Production", archive_existing_versions=True)
    client.transition_model_version_stage("churn-model", "3", "Staging")
    client.set_registered_model_alias("churn-model", "champion", "2")
    client.set_registered_model_alias("churn-model", "challenger", "3")
    return uri, client


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def test_import_matches_mlflow_and_is_idempotent(store, tmp_path: Path, cli) -> None:
    uri, client = store
    with Ledger.open(tmp_path / "ledger") as led:
        summary = import_mlflow(led, uri)
        assert summary.read["run.metric_logged"] == 5 * 2 * STEPS and summary.skipped == 0
        events = led.read()
    by_kind: dict[str, list] = {}
    for e in events:
        by_kind.setdefault(e.kind, []).append(e)

    mruns = {r.info.run_id: r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])}
    assert {e.experiment for e in by_kind["experiment.created"]} == {e.name for e in client.search_experiments()}
    started = {e.run_id: e for e in by_kind["run.started"]}
    assert started.keys() == mruns.keys()
    for rid, run in mruns.items():
        s = started[rid]
        assert s.params == run.data.params and s.tags == run.data.tags
        assert _ms(s.occurred_at) == run.info.start_time and s.name == run.info.run_name
        assert s.experiment == client.get_experiment(run.info.experiment_id).name
    finished = {e.run_id: e for e in by_kind["run.finished"]}
    expected_status = {"FINISHED": "success", "FAILED": "failed", "KILLED": "aborted"}
    assert {rid: (f.status, _ms(f.occurred_at)) for rid, f in finished.items()} == {
        rid: (expected_status[r.info.status], r.info.end_time) for rid, r in mruns.items() if r.info.status != "RUNNING"
    }

    theirs = sorted(
        (rid, key, m.step, m.timestamp, m.value)
        for rid, run in mruns.items()
        for key in run.data.metrics
        for m in client.get_metric_history(rid, key)
    )
    ours = sorted((m.run_id, m.key, m.step, _ms(m.occurred_at), m.value) for m in by_kind["run.metric_logged"])
    assert len(theirs) == 10_000 and ours == theirs

    [art] = by_kind["artifact.registered"]  # the local file, copied into the artifact store
    original = Path(urlparse(mruns[art.run_id].info.artifact_uri).path) / "model" / "weights.bin"
    assert art.name == f"mlflow/{art.run_id}/model/weights.bin" and art.size_bytes == 1234
    assert art.content_hash == hashlib.sha256(original.read_bytes()).hexdigest()
    assert art.uri.startswith("artifacts/sha256/")
    with Ledger.open(tmp_path / "ledger") as again:
        fetched = again.get_artifact(art.name, tmp_path / "fetched.bin")
    assert Path(fetched).read_bytes() == original.read_bytes()

    versions = {int(v.version): v for v in client.search_model_versions("name='churn-model'")}
    assert sorted(e.version for e in by_kind["model.version_registered"]) == [1, 2, 3]
    for e in by_kind["model.version_registered"]:
        assert (e.run_id, e.artifact_uri, _ms(e.occurred_at)) == (
            versions[e.version].run_id, versions[e.version].source, versions[e.version].creation_timestamp
        )
    last_stage = {e.version: e for e in by_kind["model.stage_changed"]}
    assert {v: (e.stage, _ms(e.occurred_at)) for v, e in last_stage.items()} == {
        n: (v.current_stage, v.last_updated_timestamp) for n, v in versions.items() if v.current_stage != "None"
    }
    assert {e.alias: e.version for e in by_kind["model.alias_set"]} == {
        k: int(v) for k, v in client.get_registered_model("churn-model").aliases.items()
    }
    with Ledger.open(tmp_path / "ledger") as led:
        models = led.view("models").filter(model="churn-model").sort("version")
        assert models["stage"].to_list() == ["Archived", "Production", "Staging"]
        before = led.log.table.version()

    res = cli("--root", str(tmp_path / "ledger"), "import", "mlflow", "--tracking-uri", uri, "--json")
    assert res.code == 0, res.err
    again = json.loads(res.out)
    assert again["added"] == 0 and again["already_imported"] == len(events)
    with Ledger.open(tmp_path / "ledger") as led:
        assert led.log.table.version() == before


def test_bad_tracking_uri_is_a_clear_error(tmp_path: Path, cli) -> None:
    res = cli("--root", str(tmp_path / "ledger"), "import", "mlflow", "--tracking-uri", " ")
    assert res.code == 2 and "--tracking-uri" in res.err and "Traceback" not in res.err
    res = cli("--root", str(tmp_path / "ledger"), "import", "mlflow", "--tracking-uri", "nosuchscheme://x")
    assert res.code == 2 and "nosuchscheme://x" in res.err and "Traceback" not in res.err


def test_derived_ids_are_stable_uuids() -> None:
    import uuid

    from lakeledger.ingest.importers.mlflow import derived_id, metric_id

    a = derived_id("metric", "r1", "loss", 3)
    assert a == derived_id("metric", "r1", "loss", 3) != derived_id("metric", "r1", "loss", 4)
    assert str(uuid.UUID(a)) == a and uuid.UUID(a).version == 8
    m = metric_id("r1", "loss", 3, 1_700_000_000_000, 0.5, 1)
    assert m == metric_id("r1", "loss", 3, 1_700_000_000_000, 0.5, 1) != metric_id("r1", "loss", 3, 1_700_000_000_000, 0.5, 2)
    assert uuid.UUID(m).version == 8 and uuid.UUID(m).variant == uuid.RFC_4122
    assert isinstance(ev.MetricLogged(event_id=a, run_id="r", key="k", value=1.0), ev.MetricLogged)


def test_client_path_gives_the_same_events(store, tmp_path: Path) -> None:
    """The bulk read of MLflow's metrics table and the client's get_metric_history agree, ids too."""
    from lakeledger.ingest.importers.mlflow import MlflowImporter

    uri, _ = store
    found = {}
    for bulk in (True, False):
        with Ledger.open(tmp_path / f"ledger-{bulk}") as led:
            MlflowImporter(led, uri, bulk_metrics=bulk).run()
            found[bulk] = sorted(
                (m.event_id, m.run_id, m.key, m.step, m.occurred_at, m.value)
                for m in led.read(kind="run.metric_logged")
            )
    assert len(found[True]) == 10_000 and found[True] == found[False]


def test_file_store(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--tracking-uri file:./mlruns`, relative to where the command runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 builds file stores only if asked
    client = MlflowClient(tracking_uri="file:./mlruns")
    rid = client.create_run("0", run_name="solo").info.run_id
    client.log_param(rid, "alpha", "0.5")
    for s in range(50):
        client.log_metric(rid, "loss", 1 / (s + 1), timestamp=1_700_000_000_000 + s, step=s)
    client.log_metric(rid, "loss", 0.02, timestamp=1_700_000_000_000, step=0)  # same step, again
    client.set_terminated(rid)
    res = cli("--root", str(tmp_path / "ledger"), "import", "mlflow", "--tracking-uri", "file:./mlruns", "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["read"]["run.metric_logged"] == 51 and out["added"] == sum(out["read"].values())
    with Ledger.open(tmp_path / "ledger") as led:
        ours = sorted((m.step, _ms(m.occurred_at), m.value) for m in led.read(kind="run.metric_logged"))
        [started] = led.read(kind="run.started")
    assert ours == sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, "loss"))
    assert started.params == {"alpha": "0.5"} and started.name == "solo"


@pytest.mark.slow
def test_http_tracking_server(tmp_path: Path, cli) -> None:
    """`--tracking-uri http://127.0.0.1:PORT`: a real `mlflow server` process, read through REST."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [exe, "server", "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--default-artifact-root", (tmp_path / "art").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 400  # a loaded 2-core machine takes minutes to start it
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited"
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health in time")
            time.sleep(1)
        client = MlflowClient(uri)
        rid = client.create_run(client.create_experiment("web"), run_name="h1").info.run_id
        client.log_batch(rid, metrics=[Metric("loss", 1 / (i + 1), 1_700_000_000_000 + i, i) for i in range(300)],
                         params=[Param("lr", "0.1")])
        client.set_terminated(rid)
        client.create_registered_model("m")
        client.create_model_version("m", "s3://bucket/model", run_id=rid)
        client.set_registered_model_alias("m", "champion", "1")
        res = cli("--root", str(tmp_path / "ledger"), "import", "mlflow", "--tracking-uri", uri, "--json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["read"] == {
            "experiment.created": 2, "run.started": 1, "run.metric_logged": 300, "run.finished": 1,
            "model.version_registered": 1, "model.alias_set": 1,
        }
        with Ledger.open(tmp_path / "ledger") as led:
            ours = sorted((m.step, _ms(m.occurred_at), m.value) for m in led.read(kind="run.metric_logged"))
        assert ours == sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, "loss"))
    finally:  # the server and the workers it started: its own process group
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_file_store_files_read_directly_equal_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file store's metric files read in bulk give the client's events, ids too (exact
    repeats, a nested key)."""
    from lakeledger.ingest.importers.mlflow import MlflowImporter

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()  # absolute: MLflow caches stores by URI across tests
    client = MlflowClient(tracking_uri=uri)
    rid = client.create_run("0", run_name="files").info.run_id
    for s in range(30):
        client.log_metric(rid, "val/loss", 1 / (s + 1), timestamp=1_700_000_000_000 + s, step=s)
        client.log_metric(rid, "acc", s / 30, timestamp=1_700_000_000_000 + s, step=s)
    client.log_metric(rid, "acc", 0.0, timestamp=1_700_000_000_000, step=0)  # an exact repeat
    found = {}
    for bulk in (True, False):
        with Ledger.open(tmp_path / f"ledger-{bulk}") as led:
            MlflowImporter(led, uri, bulk_metrics=bulk).run()
            found[bulk] = sorted(
                (m.event_id, m.run_id, m.key, m.step, m.occurred_at, m.value)
                for m in led.read(kind="run.metric_logged")
            )
    assert len(found[True]) == 61 and found[True] == found[False]
