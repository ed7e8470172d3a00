"""Published tables (``<root>/tables/<view>``) read by SQL users: the README's three queries,
run by DuckDB (its delta extension from PyPI, loaded from the file, no network) and by polars."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from lakeledger import Ledger
from lakeledger.projections import VIEWS, api

duckdb = pytest.importorskip("duckdb")


def _duckdb() -> object:
    import duckdb_extension_delta

    con = duckdb.connect()
    folder = Path(duckdb_extension_delta.__file__).parent
    extension = next(folder.rglob("delta.duckdb_extension"))
    con.execute(f"LOAD '{extension}'")
    return con


def _seed(root: Path) -> tuple[Ledger, list[str], datetime]:
    ledger = Ledger.open(root)
    ids = []
    for lr, auc in ((0.05, 0.95), (0.1, 0.85), (0.5, 0.92)):
        with ledger.run("train", params={"lr": lr, "opt": "adam"}, experiment="churn") as run:
            run.log_metric("auc", auc)
        ids.append(run.run_id)
    ledger.register_model_version("churn", run_id=ids[0], metrics={"auc": 0.95})
    ledger.register_model_version("churn", run_id=ids[2], metrics={"auc": 0.92})
    ledger.set_stage("churn", 1, "Production")
    time.sleep(0.05)
    past = datetime.now(UTC)
    time.sleep(0.05)
    ledger.set_stage("churn", 1, "Archived")
    ledger.set_stage("churn", 2, "Production")
    ledger.declare_dataset("sales", start="2025-03-01", end="2025-03-04")
    ledger.observe_partition("sales", "date=2025-03-01")
    ledger.observe_partition("sales", "date=2025-03-03")
    ledger.declare_dataset("clicks", start="2025-03-01", end="2025-03-02")
    ledger.observe_partition("clicks", "date=2025-03-01")
    ledger.observe_partition("clicks", "date=2025-03-02")
    api.refresh(ledger)
    return ledger, ids, past


RUNS_AUC = """
SELECT run_id, CAST(json_extract(metrics, '$.auc') AS DOUBLE) AS auc
FROM delta_scan('{root}/tables/runs')
WHERE CAST(json_extract(metrics, '$.auc') AS DOUBLE) > 0.9
ORDER BY auc DESC
"""

REGISTRY_AS_OF = """
SELECT v.model, v.version, coalesce(last(s.stage ORDER BY s.at), 'None') AS stage
FROM delta_scan('{root}/tables/models') v
LEFT JOIN delta_scan('{root}/tables/model_stages') s
  ON s.model = v.model AND s.model_version = v.version AND s.at <= TIMESTAMPTZ '{past}'
WHERE v.registered_at <= TIMESTAMPTZ '{past}'
GROUP BY v.model, v.version
ORDER BY v.model, v.version
"""

MISSING = """
SELECT dataset, unnest(missing_periods) AS missing
FROM delta_scan('{root}/tables/coverage')
ORDER BY dataset, missing
"""


def test_readme_queries_in_duckdb_and_polars(tmp_path: Path) -> None:
    root = tmp_path / "l"
    ledger, ids, past = _seed(root)
    con = _duckdb()
    fill = {"root": root, "past": past.isoformat()}

    want_auc = [(ids[0], 0.95), (ids[2], 0.92)]
    assert con.execute(RUNS_AUC.format(**fill)).fetchall() == want_auc  # type: ignore[attr-defined]
    runs = pl.scan_delta(str(root / "tables" / "runs"))
    auc = pl.col("metrics").str.json_path_match("$.auc").cast(pl.Float64)
    got = runs.filter(auc > 0.9).select("run_id", auc.alias("auc")).sort("auc", descending=True)
    assert got.collect().rows() == want_auc

    # the registry as of a past time: version 1 was in Production, version 2 did not move yet
    want_registry = [("churn", 1, "Production"), ("churn", 2, "None")]
    assert con.execute(REGISTRY_AS_OF.format(**fill)).fetchall() == want_registry  # type: ignore[attr-defined]
    stages = pl.scan_delta(str(root / "tables" / "model_stages")).filter(pl.col("at") <= past)
    registry = (
        pl.scan_delta(str(root / "tables" / "models"))
        .filter(pl.col("registered_at") <= past)
        .join(
            stages.group_by("model", "model_version").agg(pl.col("stage").sort_by("at").last()),
            left_on=["model", "version"],
            right_on=["model", "model_version"],
            how="left",
            suffix="_then",
        )
        .select("model", "version", pl.col("stage_then").fill_null("None"))
        .sort("model", "version")
    )
    assert registry.collect().rows() == want_registry
    # ... and it is what the as-of view says
    as_of = ledger.view("models", as_of=past).select("model", "version", "stage").rows()
    assert as_of == want_registry

    want_missing = [("sales", "2025-03-02"), ("sales", "2025-03-04")]
    assert con.execute(MISSING.format(**fill)).fetchall() == want_missing  # type: ignore[attr-defined]
    missing = (
        pl.scan_delta(str(root / "tables" / "coverage"))
        .select("dataset", pl.col("missing_periods").alias("missing"))
        .explode("missing")
        .drop_nulls()
        .sort("dataset", "missing")
    )
    assert missing.collect().rows() == want_missing


def test_tables_are_typed_one_row_per_entity_and_kept_current(tmp_path: Path) -> None:
    root = tmp_path / "l"
    ledger, ids, _ = _seed(root)
    runs = pl.read_delta(str(root / "tables" / "runs"))
    assert runs.height == 3 and runs["run_id"].n_unique() == 3
    assert runs.schema["started_at"] == pl.Datetime("us", "UTC")
    assert runs.schema["duration_s"] == pl.Float64 and runs.schema["artifacts"] == pl.List(
        pl.String
    )
    assert set(runs["events_version"].to_list()) == {ledger.version}
    assert "_part" not in runs.columns
    # every view is published, with exactly the rows the view shows
    for name in (
        "artifacts",
        "artifact_versions",
        "experiments",
        "models",
        "runs",
        "coverage",
        "staleness",
        "validations",
    ):
        key = list(VIEWS[name].key)  # Delta keeps no row order: compare by key
        table = pl.read_delta(str(root / "tables" / name)).drop("events_version")
        assert table.sort(key).equals(ledger.view(name).sort(key)), name
    # a new event, a refresh: the table follows
    ledger.delete_run(ids[1])
    api.refresh(ledger, ["runs"])
    runs = pl.read_delta(str(root / "tables" / "runs"))
    assert sorted(runs["run_id"].to_list()) == sorted([ids[0], ids[2]])
    assert set(runs["events_version"].to_list()) == {ledger.version}
