"""`import lakeledger.mlflow as mlflow`: the same training script against MLflow and the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lakeledger import Ledger
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput

SCRIPT = str(Path(__file__).with_name("mlflow_training_script.py"))
FILTERS = [
    "metrics.auc > 0.86",
    "params.lr = '0.05'",
    "tags.team = 'growth' and metrics.f1 >= 0.75",
    "params.model LIKE 'gb%' and tags.lr_band != 'high'",
    "attributes.status = 'FINISHED' and metrics.loss < 0.2",
    "tags.`mlflow.runName` ILIKE 'LR-0.0%' and metrics.f1 > 0.7",
]


def _train(tracker: str, env: dict[str, str], cwd: Path) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, SCRIPT, *FILTERS],
        env={**os.environ, "TRACKER": tracker, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_same_script_same_search_results(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    (tmp_path / "ml").mkdir()
    theirs = _train("mlflow", {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/ml/mlflow.db"}, tmp_path / "ml")
    ours = _train("lakeledger.mlflow", {"LAKELEDGER_ROOT": str(tmp_path / "ledger")}, tmp_path)
    assert theirs == ours
    assert ours["params.lr = '0.05'"] == ["lr-0.05"] and len(ours["metrics.auc > 0.86"]) == 3


def test_script_leaves_a_complete_ledger(tmp_path: Path) -> None:
    """Without mlflow installed too: the drop-in needs nothing from MLflow."""
    out = _train("lakeledger.mlflow", {"LAKELEDGER_ROOT": str(tmp_path / "ledger")}, tmp_path)
    assert out["params.lr = '0.05'"] == ["lr-0.05"]
    with Ledger.open(tmp_path / "ledger") as led:
        started = {e.name: e for e in led.read(kind="run.started")}
        assert len(started) == 6
        parent = started["lr-0.05"]
        assert started["lr-0.05-fold"].tags["mlflow.parentRunId"] == parent.run_id
        assert started["lr-0.05-fold"].parent_run_id == parent.run_id
        assert parent.experiment == "churn" and parent.tags["mlflow.runName"] == "lr-0.05"
        params = {(e.key, e.value) for e in led.read(kind="run.param_logged", stream=f"run/{parent.run_id}")}
        assert params == {("lr", "0.05"), ("depth", "6"), ("model", "gbm")}  # strings, as in MLflow
        loss = [e for e in led.read(kind="run.metric_logged", stream=f"run/{parent.run_id}") if e.key == "loss"]
        assert [e.step for e in loss] == list(range(20))
        assert {e.status for e in led.read(kind="run.finished")} == {"success"}
        arts = [e for e in led.read(kind="artifact.registered") if e.run_id == parent.run_id]
        assert [a.name for a in arts] == ["model/weights.txt"] and arts[0].content_hash
        assert Path(led.get_artifact("model/weights.txt", tmp_path / "w.txt")).read_text() == "weights for lr=0.1\n"
        [version] = led.read(kind="model.version_registered")
        assert (version.model, version.version, version.run_id) == ("churn-model", 1, parent.run_id)


def test_fluent_semantics(tmp_path: Path) -> None:
    import lakeledger.mlflow as mlflow

    mlflow.set_tracking_uri(tmp_path / "ledger")
    try:
        mlflow.log_metric("x", 1.0, step=3, timestamp=1_700_000_000_000)  # starts a run, like MLflow
        auto = mlflow.active_run()
        assert auto is not None and auto.info.experiment_id == "Default"
        with pytest.raises(InvalidInput, match="nested=True"):
            mlflow.start_run()
        child = mlflow.start_run(nested=True)
        mlflow.end_run("FAILED")
        assert mlflow.active_run() is auto
        mlflow.end_run()
        assert mlflow.active_run() is None and mlflow.last_active_run() is auto
        with pytest.raises(InvalidInput, match="column 13"):
            mlflow.search_runs(filter_string="metrics.x > and params.y = '1'")
        both = mlflow.search_runs(filter_string="metrics.x > 0 or run_name = 'nope'")  # OR: beyond MLflow
        assert both["run_id"].to_list() == [auto.info.run_id]
        runs = mlflow.search_runs(filter_string="metrics.x = 1", order_by=["attributes.start_time ASC"])
        assert runs["run_id"].to_list() == [auto.info.run_id]
        statuses = dict(mlflow.search_runs().select("run_id", "status").iter_rows())
        assert statuses == {auto.info.run_id: "FINISHED", child.info.run_id: "FAILED"}
        with Ledger.open(tmp_path / "ledger") as led:
            [metric] = led.read(kind="run.metric_logged")
            assert isinstance(metric, ev.MetricLogged) and metric.step == 3
            assert round(metric.occurred_at.timestamp() * 1000) == 1_700_000_000_000
    finally:
        mlflow.end_run()
        mlflow.set_tracking_uri(os.environ.get("LAKELEDGER_ROOT", "./lakeledger"))


def test_import_without_mlflow_names_the_extra(tmp_path: Path) -> None:
    """An environment without mlflow (simulated in a fresh interpreter): exit 2 and the fix."""
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "from lakeledger.cli.main import run\n"
        f"sys.exit(run(['--root', {str(tmp_path / 'ledger')!r}, 'import', 'mlflow', '--tracking-uri', 'sqlite:///x.db']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "lakeledger[mlflow]" in proc.stderr and "Traceback" not in proc.stderr


def test_search_runs_takes_mlflow_latest_point_and_leaves_deleted_runs_out(tmp_path: Path) -> None:
    """A metric's value is its point of highest step (MLflow's), also when steps were logged
    out of order; a deleted run is not found (MLflow's ACTIVE_ONLY)."""
    import lakeledger.mlflow as mlflow

    mlflow.set_tracking_uri(tmp_path / "ledger")
    try:
        with mlflow.start_run() as late:
            mlflow.log_metric("x", 1.0, step=5)
            mlflow.log_metric("x", 9.0, step=2)  # logged last, yet not MLflow's latest
            mlflow.log_metric("y", 3.0, step=1)
        with mlflow.start_run() as gone:
            mlflow.log_metric("x", 1.0, step=0)
        with Ledger.open(tmp_path / "ledger") as led:
            led.append([ev.RunDeleted(run_id=gone.info.run_id)])
        found = mlflow.search_runs(filter_string="metrics.x = 1")
        assert found["run_id"].to_list() == [late.info.run_id]
        assert found.select("metrics.x", "metrics.y").row(0) == (1.0, 3.0)
        assert mlflow.search_runs(filter_string="metrics.x > 5").height == 0
        assert mlflow.search_runs(order_by=["metrics.x DESC"])["run_id"].to_list() == [late.info.run_id]
    finally:
        mlflow.end_run()
        mlflow.set_tracking_uri(os.environ.get("LAKELEDGER_ROOT", "./lakeledger"))
