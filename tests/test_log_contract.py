"""The event-log contract, written once and run against every storage backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl
import pytest
from lakeledger.store import ConcurrencyError, InvalidInput, LogSettings, NotInitialised
from lakeledger.store import events as ev
from lakeledger.store.storage import filesystem

from .conftest import Backend


def test_append_is_one_atomic_commit_and_reads_back_typed(backend: Backend) -> None:
    ledger = backend.open()
    batch = [ev.RunStarted(run_id="r1", job="train", params={"lr": 0.1, "deep": True}),
             ev.MetricLogged(run_id="r1", key="loss", value=0.3, step=1),
             ev.RunFinished(run_id="r1", status="success")]
    result = ledger.append(batch)
    assert result.version == 1 and ledger.version == 1
    rows = ledger.events().collect()
    assert rows["version"].to_list() == [1, 1, 1]
    assert rows["seq"].to_list() == [0, 1, 2]
    assert rows["kind"].to_list() == ["run.started", "run.metric_logged", "run.finished"]
    assert rows["stream"].unique().to_list() == ["run/r1"]
    assert rows.schema["recorded_at"] == pl.Datetime("us", "UTC")
    assert ledger.read() == batch


def test_a_reopened_ledger_sees_everything(backend: Backend) -> None:
    backend.open().append([ev.ExperimentCreated(experiment="churn")])
    again = backend.open(create=False)
    assert [e.experiment for e in again.read()] == ["churn"]  # type: ignore[attr-defined]


def test_opening_a_missing_ledger_for_reading_says_how_to_create_it(backend: Backend) -> None:
    with pytest.raises(NotInitialised, match="lakeledger init"):
        backend.open(create=False)


def test_repeated_event_ids_change_no_read(backend: Backend) -> None:
    ledger = backend.open()
    e = ev.TagSet(run_id="r", key="k", value="v")
    first = ledger.append([e, e])
    assert len(first.events) == 1 and first.skipped == (e.event_id,)
    retry = ledger.append([e])  # e.g. the caller retried after a timeout
    assert retry.version is None and retry.skipped == (e.event_id,)
    assert ledger.events().collect().height == 1
    assert ledger.version == 1


def test_filters_kind_stream_since_and_as_of(backend: Backend) -> None:
    ledger = backend.open()
    ledger.append([ev.ExperimentCreated(experiment="a")])
    ledger.register_model_version("fraud")
    t_mid = datetime.now(UTC)
    ledger.register_model_version("churn")
    ledger.set_stage("fraud", 1, "Staging")
    assert ledger.events(kind="model.*").collect().height == 3
    assert ledger.events(kind=["experiment.created"]).collect().height == 1
    assert ledger.events(stream="model/fraud").collect()["kind"].to_list() == [
        "model.version_registered", "model.stage_changed"]
    assert ledger.events(since=2).collect()["version"].to_list() == [3, 4]
    assert ledger.events(as_of=2).collect().height == 2
    assert ledger.events(as_of=t_mid).collect().height == 2
    assert ledger.events(as_of=t_mid.isoformat()).collect().height == 2
    assert ledger.events(as_of=t_mid - timedelta(days=1)).collect().height == 0
    with pytest.raises(InvalidInput, match="neither a version"):
        ledger.events(as_of="last tuesday")


def test_model_versions_and_stage_expectations(backend: Backend) -> None:
    ledger = backend.open()
    assert [ledger.register_model_version("fraud") for _ in range(3)] == [1, 2, 3]
    assert ledger.register_model_version("other") == 1
    changed = ledger.set_stage("fraud", 2, "Production", expect=None)
    assert changed.previous_stage == "None"
    with pytest.raises(ConcurrencyError, match="not 'Staging'"):
        ledger.set_stage("fraud", 2, "Archived", expect="Staging")
    assert ledger.set_stage("fraud", 2, "Archived", expect="Production").previous_stage == "Production"
    with pytest.raises(InvalidInput, match="no version 9"):
        ledger.set_stage("fraud", 9, "Staging")
    with pytest.raises(InvalidInput, match="no version 7"):
        ledger.set_alias("fraud", "champion", 7)
    before = ledger.version
    with pytest.raises(ConcurrencyError):  # all or nothing: the valid first event is not written
        ledger.append([ev.TagSet(run_id="x", key="k", value="v"),
                       ev.ModelStageChanged(model="fraud", version=1, stage="Staging",
                                            previous_stage="Production")])
    assert ledger.version == before


def test_commit_latency_stays_bounded_by_log_management(backend: Backend) -> None:
    """Many commits with a tiny cadence: the Delta log and live files stay small, rows exact."""
    settings = LogSettings(checkpoint_interval=5, compact_every=4, keep_log_versions=5, vacuum_every=7)
    ledger = backend.open(settings=settings)
    n = 40 if backend.name == "local" else 24
    for i in range(n):
        ledger.append([ev.ValidationRecorded(target="t", check=f"c{i}", passed=True)] * 1)
    ledger.close()  # maintenance runs after each append returned: wait for what is pending
    rows = ledger.events().collect()
    assert rows.height == n and rows["event_id"].n_unique() == n
    assert sorted(rows["version"].unique().to_list())[-1] <= ledger.version
    fs, path = filesystem(ledger.location, ledger.location.join("events", "_delta_log"))
    jsons = [p for p in fs.ls(path, detail=False) if p.endswith(".json")]
    assert len(jsons) <= settings.keep_log_versions + 2 * settings.checkpoint_interval
    assert len(ledger.log.refresh().file_uris()) < n // 2  # compacted
    # as-of still reaches the very first commit, though its Delta log file is gone
    assert ledger.events(as_of=1).collect().height == 1
    assert ledger.history()["version"].min() == 1


def test_history_lists_commits_with_who(backend: Backend) -> None:
    ledger = backend.open()
    ledger.append([ev.ExperimentCreated(experiment="x"), ev.ExperimentCreated(experiment="y")])
    ledger.record_validation("sales", "rows", True)
    h = ledger.history()
    assert h["version"].to_list() == [2, 1]
    assert h["events"].to_list() == [1, 2]
    assert h["user"][0] and h["host"][0] and h["pid"][0] > 0


def test_credentials_never_reach_events_or_commit_metadata(backend: Backend) -> None:
    ledger = backend.open()
    ledger.append([ev.ExperimentCreated(experiment="x")])
    secrets = [v for k, v in backend.storage_options.items() if "SECRET" in k]
    dump = msgspec.json.encode(ledger.events().collect().to_dicts()).decode()
    dump += msgspec.json.encode(ledger.log.refresh().history()).decode()
    for secret in secrets:
        assert secret not in dump
    assert "secret" not in repr(ledger.location).lower()
