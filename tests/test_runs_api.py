"""The Python side of issue 14: nested runs, metric history, delete/restore, search with as-of,
every artifact registration, and a stored view of an older layout rebuilt instead of failing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from deltalake import write_deltalake
from lakeledger import Ledger
from lakeledger.projections.engine import materialise


def test_nested_runs_history_delete_restore_search(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l")
    with ledger.run("sweep", experiment="churn") as parent:
        children = []
        for lr, aucs in ((0.05, (0.7, 0.9)), (0.1, (0.6, 0.8))):
            with ledger.run("train", params={"lr": lr}, parent_run_id=parent.run_id) as child:
                for step, auc in enumerate(aucs):
                    child.log_metric("auc", auc, step=step)
                child.register_artifact("churn-model", f"models/{child.run_id}.pkl")
            children.append(child.run_id)
    version_before_delete = ledger.version

    history = ledger.metric_history(children[0], "auc")
    assert history.select("step", "value").rows() == [(0, 0.7), (1, 0.9)]
    assert history["recorded_at"].is_sorted()
    assert ledger.metric_history(children[0], "nope").height == 0

    runs = ledger.view("runs")
    nested = runs.filter(pl.col("parent_run_id") == parent.run_id)["run_id"].to_list()
    assert sorted(nested) == sorted(children)
    assert runs.filter(pl.col("run_id") == children[0])["artifacts"].to_list() == [["churn-model"]]

    found = ledger.search_runs("metrics.auc > 0.85 or params.lr = 0.1", order_by="metrics.auc DESC")
    assert found["run_id"].to_list() == children

    ledger.delete_run(children[0], reason="leaked labels")
    assert children[0] not in ledger.view("runs")["run_id"].to_list()
    assert ledger.search_runs("params.lr = 0.05").height == 0
    # as of before the delete, the run is there; the audit keeps every event
    assert ledger.search_runs("params.lr = 0.05", as_of=version_before_delete).height == 1
    kinds = [e.kind for e in ledger.read(stream=f"run/{children[0]}")]
    assert kinds[-1] == "run.deleted" and "run.started" in kinds
    ledger.restore_run(children[0])
    assert children[0] in ledger.view("runs")["run_id"].to_list()

    # an artifact name keeps every registration; best by metric is a query
    versions = ledger.search("artifact_versions", "name = 'churn-model'")
    assert versions.select("version", "run_id", "latest").rows() == [
        (1, children[0], False),
        (2, children[1], True),
    ]
    best = ledger.search("artifact_versions", "", order_by="metrics.auc DESC", limit=1)
    assert best["run_id"].to_list() == [children[0]]
    assert ledger.view("artifacts").filter(pl.col("name") == "churn-model")["versions"].item() == 2


def test_a_view_stored_in_an_older_layout_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "l"
    ledger = Ledger.open(root)
    with ledger.run("a", params={"lr": 1}) as run:
        run.log_metric("auc", 0.5)
    materialise.refresh(ledger, ["runs"])
    older = pl.read_delta(str(root / "views" / "runs")).drop("parent_run_id", "deletion")
    write_deltalake(str(root / "views" / "runs"), older.to_arrow(), mode="overwrite", schema_mode="overwrite")
    with ledger.run("b"):
        pass
    (done,) = materialise.refresh(ledger, ["runs"])
    assert done.full
    assert ledger.view("runs").select("job", "params").rows() == [("a", '{"lr":1}'), ("b", "{}")]
