"""Golden scenarios for every view and status, on in-memory logs (no storage involved)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from lakeledger.projections.engine.state import Context
from lakeledger.projections.views.artifacts import artifact_history, artifacts
from lakeledger.projections.views.coverage import coverage
from lakeledger.projections.views.models import model_stage_history, models
from lakeledger.projections.views.runs import runs
from lakeledger.projections.views.staleness import staleness
from lakeledger.projections.views.validations import validation_history, validations
from lakeledger.store import events as ev

from tests.projections_fixtures import T0, WRITER, log_frame

LATER = Context(now=T0 + timedelta(days=60))


def by(frame: pl.DataFrame, key: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r[key]: r for r in frame.iter_rows(named=True)}


def test_artifact_reregistered_after_retirement_is_live_again() -> None:
    log = log_frame(
        [
            [ev.ArtifactRegistered(name="features", uri="f/v1", config_hash="h1")],
            [ev.ArtifactRetired(name="features", reason="bad join")],
            [ev.ArtifactRegistered(name="features", uri="f/v2", config_hash="h2")],
            [
                ev.ArtifactRegistered(name="old", uri="o/v1"),
                ev.ArtifactRetired(name="old", reason="unused"),
            ],
        ]
    )
    rows = by(artifacts(log), "name")
    assert rows["features"]["retired"] is False
    assert rows["features"]["uri"] == "f/v2" and rows["features"]["versions"] == 2
    assert rows["features"]["retire_reason"] is None
    assert rows["old"]["retired"] is True and rows["old"]["retire_reason"] == "unused"
    assert rows["features"]["registered_by"] == WRITER.user
    history = artifact_history(log, "features")
    assert history["action"].to_list() == ["registered", "retired", "registered"]


def test_staleness_statuses_and_reasons() -> None:
    log = log_frame(
        [
            [
                ev.ArtifactRegistered(name="early", uri="e", config_hash="h1")
            ],  # config declared after it
            [
                ev.ConfigDeclared(name="early", config_hash="h1"),
                ev.ConfigDeclared(name="model_cfg", config_hash="m1"),
            ],
            [
                ev.ArtifactRegistered(name="model_cfg", uri="m", config_hash="m1"),
                ev.ArtifactRegistered(name="orphan", uri="o"),
                ev.ArtifactRegistered(name="run_owned", uri="ro", run_id="r1"),  # MLflow-style
                ev.ArtifactRegistered(name="by_hash", uri="b", config_hash="m1"),
                ev.DatasetDeclared(dataset="sales"),
                ev.ArtifactRegistered(name="sales", uri="s"),
                ev.ArtifactRegistered(name="gone", uri="g", config_hash="h1"),
                ev.ArtifactRegistered(name="retired", uri="r"),
                ev.ArtifactRetired(name="retired"),
            ],
            [ev.ConfigDeclared(name="model_cfg", config_hash="m2")],  # model_cfg becomes stale
            [
                ev.ArtifactRegistered(
                    name="agg", uri="a", config_hash="h1", inputs=["dataset/sales/date=2025-03-01"]
                ),
                ev.ArtifactRegistered(
                    name="agg2", uri="a2", config_hash="h1", inputs=["artifact/early"]
                ),
                ev.ArtifactRegistered(
                    name="agg3",
                    uri="a3",
                    config_hash="h1",
                    inputs=["dataset/sales/date=2025-03-02"],
                ),
                # as stages write inputs: a bare table name and a pinned artifact version
                ev.ArtifactRegistered(name="stage_a", uri="sa", config_hash="h1", inputs=["sales@v3"]),
                ev.ArtifactRegistered(name="stage_b", uri="sb", config_hash="h1", inputs=["early@sha256:ab"]),
                ev.ArtifactRegistered(name="stage_c", uri="sc", config_hash="h1", inputs=["model_cfg@v1"]),
            ],
            [
                ev.PartitionObserved(dataset="sales", partition="date=2025-03-01"),
                ev.ArtifactRegistered(name="early", uri="e2", config_hash="h1"),
            ],
        ]
    )
    rows = by(staleness(log, Context(now=T0, missing=frozenset({"g"}))), "name")
    status = {name: r["status"] for name, r in rows.items()}
    assert status == {
        "early": "fresh",
        "by_hash": "fresh",
        "sales": "fresh",
        "orphan": "orphaned",
        "run_owned": "fresh",
        "gone": "missing",
        "model_cfg": "stale",
        "agg": "stale",
        "agg2": "stale",
        "agg3": "fresh",
        "stage_a": "stale",  # dataset sales observed after it
        "stage_b": "stale",  # artifact early registered again after it
        "stage_c": "stale",  # model_cfg unchanged since, but stale itself: it re-runs first
    }
    assert "retired" not in rows
    assert rows["model_cfg"]["reason"] == "config model_cfg is now m2, artifact built with m1"
    assert (
        rows["agg"]["reason"]
        == "input dataset/sales/date=2025-03-01 changed after it was registered"
    )
    assert rows["agg2"]["reason"] == "input artifact/early changed after it was registered"
    assert rows["gone"]["reason"] == "file g is gone from storage"
    assert rows["stage_c"]["reason"] == "upstream model_cfg is stale"
    assert rows["orphan"]["reason"] == "no declared config or dataset owns it"


def test_coverage_removed_then_reobserved_and_gaps() -> None:
    log = log_frame(
        [
            [ev.DatasetDeclared(dataset="sales", freq="D", start="2025-03-01", end="2025-03-05")],
            [
                ev.PartitionObserved(dataset="sales", partition=f"date=2025-03-0{d}")
                for d in (1, 2, 3, 5)
            ],
            [
                ev.PartitionRemoved(dataset="sales", partition="date=2025-03-02"),
                ev.PartitionRemoved(dataset="sales", partition="date=2025-03-03"),
            ],
            [
                ev.PartitionObserved(dataset="sales", partition="date=2025-03-03"),
                ev.PartitionObserved(dataset="sales", partition="date=2025-04-01"),
            ],  # outside the range
        ]
    )
    row = coverage(log, LATER).row(0, named=True)
    assert (row["expected"], row["present"], row["missing"]) == (5, 3, 2)
    assert row["missing_periods"] == ["2025-03-02", "2025-03-04"]
    assert row["first_gap"] == "2025-03-02" and row["coverage_pct"] == 60.0
    assert row["unmatched"] == 1


def test_coverage_every_freq_and_open_end() -> None:
    now = Context(now=T0)  # 2025-03-01 12:00 UTC
    # open end: periods up to the last one that has ended (the running one is not due yet)
    cases = [
        ("H", "2025-03-01", ["date=2025-03-01T05", "date=2025-03-01T11"], 12, 2),
        ("D", "2025-02-20", ["date=2025-02-20", "date=20250301"], 9, 1),
        ("W", "2025-02-01", ["week=2025-W05", "week=2025-W09"], 4, 1),
        ("M", "2024-11-15", ["month=2024-11", "month=2025-01"], 4, 2),
        ("Q", "2024-01-01", ["q=2024-Q1", "q=2024-Q4", "q=2025-Q1"], 4, 2),
        ("Y", "2020-06-01", ["year=2020", "year=2025"], 5, 1),
    ]
    for freq, start, parts, expected, present in cases:
        key = parts[0].split("=")[0]
        log = log_frame(
            [
                [ev.DatasetDeclared(dataset="d", freq=freq, start=start, partition_key=[key])],
                [ev.PartitionObserved(dataset="d", partition=p) for p in parts],
            ]
        )
        row = coverage(log, now).row(0, named=True)
        assert (row["expected"], row["present"]) == (expected, present), freq


def test_coverage_with_several_partition_columns() -> None:
    log = log_frame(
        [
            [
                ev.DatasetDeclared(
                    dataset="sales",
                    freq="D",
                    start="2025-03-01",
                    end="2025-03-02",
                    partition_key=["region", "date"],
                )
            ],
            [
                ev.PartitionObserved(dataset="sales", partition="region=eu/date=2025-03-01"),
                ev.PartitionObserved(dataset="sales", partition="region=eu/date=2025-03-02"),
                ev.PartitionObserved(dataset="sales", partition="region=us/date=2025-03-02"),
            ],
        ]
    )
    row = coverage(log, LATER).row(0, named=True)
    assert row["groups"] == 2 and row["expected"] == 4 and row["present"] == 3
    assert row["missing_periods"] == ["region=us/2025-03-01"]


def test_model_moved_back_from_production() -> None:
    log = log_frame(
        [
            [
                ev.ModelVersionRegistered(
                    model="fraud", version=1, metrics={"auc": 0.91}, run_id="r1"
                )
            ],
            [ev.ModelVersionRegistered(model="fraud", version=2)],
            [
                ev.ModelStageChanged(
                    model="fraud", version=1, stage="Production", previous_stage="None"
                )
            ],
            [ev.ModelAliasSet(model="fraud", alias="champion", version=1)],
            [
                ev.ModelStageChanged(
                    model="fraud",
                    version=1,
                    stage="Staging",
                    previous_stage="Production",
                    reason="drift",
                ),
                ev.ModelStageChanged(
                    model="fraud", version=2, stage="Production", previous_stage="None"
                ),
                ev.ModelAliasSet(model="fraud", alias="champion", version=2),
                ev.ModelAliasSet(model="fraud", alias="baseline", version=1),
            ],
        ]
    )
    rows = {r["version"]: r for r in models(log).iter_rows(named=True)}
    assert rows[1]["stage"] == "Staging" and rows[1]["stage_reason"] == "drift"
    assert rows[1]["aliases"] == ["baseline"] and rows[2]["aliases"] == ["champion"]
    assert rows[2]["stage"] == "Production" and rows[1]["stage_changes"] == 2
    assert rows[1]["metrics"] == '{"auc":0.91}' and rows[1]["run_id"] == "r1"
    history = model_stage_history(log, "fraud").filter(pl.col("model_version") == 1)
    assert history.select("previous_stage", "stage").rows() == [
        ("None", "Production"),
        ("Production", "Staging"),
    ]


def test_runs_status_params_metrics() -> None:
    done = ev.RunStarted(job="train", params={"lr": 0.1, "opt": "adam"}, tags={"team": "risk"})
    dead = ev.RunStarted(job="etl")
    silent = ev.RunStarted(job="slow")
    live = ev.RunStarted(job="live")
    log = log_frame(
        [
            [done, dead, silent],
            [
                ev.ParamLogged(run_id=done.run_id, key="lr", value=0.2),
                *[
                    ev.MetricLogged(run_id=done.run_id, key="loss", value=v, step=i)
                    for i, v in enumerate([3.0, 1.0, 2.0])
                ],
                ev.TagSet(run_id=done.run_id, key="team", value="fraud"),
            ],
            [ev.RunFinished(run_id=done.run_id, status="failed", error="OOM")],
        ],
        every=timedelta(hours=10),
    )
    later = log_frame([[live]], first_version=4, start=T0 + timedelta(hours=30))
    ctx = Context(now=T0 + timedelta(hours=30), gone=frozenset({(WRITER.host, WRITER.pid)}))
    alive = Context(now=T0 + timedelta(hours=30))
    both = pl.concat([log, later])
    rows = by(runs(both, alive), "job")
    assert rows["train"]["status"] == "failed" and rows["train"]["error"] == "OOM"
    assert rows["train"]["params"] == '{"lr":0.2,"opt":"adam"}'  # typed: lr stays a number
    assert rows["train"]["tags"] == '{"team":"fraud"}'
    assert rows["train"]["metrics"] == '{"loss":2.0}'
    stats = '{"loss":{"last":2.0,"min":1.0,"max":3.0,"count":3,"last_step":2}}'
    assert rows["train"]["metric_stats"] == stats
    assert (
        rows["etl"]["status"] == "lost" and rows["etl"]["status_reason"] == "no event for over 24 h"
    )
    assert rows["live"]["status"] == "running"
    # the same process wrote "live": once it is known dead, that run is lost too
    assert (
        by(runs(both, ctx), "job")["live"]["status_reason"]
        == f"writer process {WRITER.host}:{WRITER.pid} is gone"
    )
    # as of 5 hours in, nothing was silent for a day yet
    early = by(
        runs(log.filter(pl.col("version") <= 1), Context(now=T0 + timedelta(hours=5))), "job"
    )
    assert {r["status"] for r in early.values()} == {"running"}


def test_validations_latest_failing_first() -> None:
    log = log_frame(
        [
            [
                ev.ValidationRecorded(
                    target="dataset/sales", check="rows", passed=False, failed_count=3
                )
            ],
            [
                ev.ValidationRecorded(target="dataset/sales", check="rows", passed=True),
                ev.ValidationRecorded(
                    target="dataset/sales", check="nulls", passed=False, severity="warning"
                ),
                ev.ValidationRecorded(
                    target="model/fraud", check="auc", passed=False, observed=0.6, expected=0.8
                ),
            ],
        ]
    )
    frame = validations(log)
    assert frame.select("target", "check", "passed").rows() == [
        ("model/fraud", "auc", False),
        ("dataset/sales", "nulls", False),
        ("dataset/sales", "rows", True),
    ]
    rows = by(frame, "check")
    assert rows["rows"]["runs"] == 2 and rows["rows"]["failures"] == 1
    assert rows["auc"]["observed"] == "0.6" and rows["auc"]["expected"] == "0.8"
    assert validation_history(log, "dataset/sales").height == 3
