"""The Python API producers use: runs, group commit, configs, artifacts, safety."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from lakeledger.store import HashableConfig, InvalidInput, Ledger, PathEscapeError
from lakeledger.store import events as ev
from lakeledger.store.location import Location


def test_run_context_records_start_params_metrics_and_success(ledger: Ledger) -> None:
    with ledger.run("train", params={"lr": 0.1}, experiment="churn", tags={"team": "ml"}) as run:
        started_version = ledger.version  # run.started is durable at once
        run.log_param("epochs", 3)
        for step in range(5):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.set_tag("stage", "dev")
    assert started_version == 1
    kinds = ledger.events(stream=f"run/{run.run_id}").collect()["kind"].to_list()
    assert kinds == ["run.started", "run.param_logged"] + ["run.metric_logged"] * 5 + [
        "run.tag_set", "run.finished"]
    started, *_, finished = ledger.read(stream=f"run/{run.run_id}")
    assert started.params == {"lr": 0.1} and started.experiment == "churn"  # type: ignore[attr-defined]
    assert finished.status == "success"  # type: ignore[attr-defined]


def test_an_exception_marks_the_run_failed_and_is_reraised(ledger: Ledger) -> None:
    with pytest.raises(ZeroDivisionError), ledger.run("etl") as run:
        run.log_metric("rows", 10)
        1 / 0  # noqa: B018
    finished = ledger.read(kind="run.finished")[0]
    assert finished.status == "failed"  # type: ignore[attr-defined]
    assert "ZeroDivisionError" in finished.error  # type: ignore[attr-defined]
    assert ledger.events(kind="run.metric_logged").collect().height == 1


def test_group_commit_flushes_on_size_and_on_time(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l", max_buffered_events=100, max_buffer_delay_s=0.5)
    for i in range(250):
        ledger.emit(ev.MetricLogged(run_id="r", key="k", value=i, step=i))
    assert ledger.writer.pending() == 50  # two size-triggered commits took the first 200
    deadline = time.monotonic() + 5
    while ledger.events().collect().height < 250 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger.events().collect().height == 250  # the timer flushed the rest
    assert ledger.history()["events"].to_list() == [50, 100, 100]


def test_buffered_events_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    root = tmp_path / "l"
    code = (
        "from lakeledger.store import Ledger, events as ev\n"
        f"L = Ledger.open({str(root)!r}, max_buffer_delay_s=3600)\n"
        "for i in range(1000): L.emit(ev.MetricLogged(run_id='r', key='k', value=i, step=i))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert Ledger.open(root).events().collect().height == 1000


def test_append_flushes_buffered_events_first_to_keep_order(ledger: Ledger) -> None:
    ledger.emit(ev.MetricLogged(run_id="r", key="k", value=1))
    ledger.append([ev.RunFinished(run_id="r", status="success")])
    assert ledger.events().collect()["kind"].to_list() == ["run.metric_logged", "run.finished"]


class Cfg(HashableConfig):
    window: int = 7


def test_declare_config_returns_the_hash_it_records(ledger: Ledger) -> None:
    digest = ledger.declare_config("features", Cfg(window=3))
    assert digest == Cfg(window=3).config_hash
    event = ledger.read(kind="config.declared")[0]
    assert event.config == {"window": 3} and event.config_hash == digest  # type: ignore[attr-defined]


def test_dataset_declaration_accepts_iso_dates_and_key_lists(ledger: Ledger) -> None:
    d = ledger.declare_dataset("sales", freq="M", start="2025-01-01", partition_key=["region", "month"])
    assert d.start == date(2025, 1, 1) and d.partition_key == ["region", "month"]
    with pytest.raises(InvalidInput, match=r"\$.freq"):
        ledger.declare_dataset("bad", freq="fortnightly")  # type: ignore[arg-type]


def test_naive_timestamps_are_refused_not_guessed(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput, match="no timezone"):
        ledger.append([ev.ExperimentCreated(experiment="x", occurred_at=datetime(2025, 1, 1))])
    assert ledger.version == 0


def test_artifact_paths_may_not_escape_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    ledger = Ledger.open(root)
    (root / "models").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "models" / "link")
    assert ledger.register_artifact("ok", "models/./m.pkl").uri == "models/m.pkl"
    assert ledger.register_artifact("abs", str(root / "models" / "m.pkl")).uri == "models/m.pkl"
    assert ledger.register_artifact("remote", "s3://bucket/m.pkl").uri == "s3://bucket/m.pkl"
    for bad, how in [("../secrets", "'..'"), ("/etc/passwd", "absolute"),
                     ("models/link/x.pkl", "symlink"), ("file:///etc/passwd", "absolute")]:
        with pytest.raises(PathEscapeError, match=how):
            ledger.register_artifact("bad", bad)
    assert ledger.events(kind="artifact.registered").collect().height == 3


def test_remote_roots_check_paths_without_a_disk() -> None:
    loc = Location.of("s3://bucket/ledger", {"AWS_SECRET_ACCESS_KEY": "hunter2-secret"})
    assert loc.resolve_artifact("a/../b/m.pkl") == "b/m.pkl"
    with pytest.raises(PathEscapeError):
        loc.resolve_artifact("../../other-bucket/x")
    assert "hunter2" not in repr(loc)
    assert loc.redact("boom hunter2-secret boom") == "boom *** boom"


def test_facade_adds_views_and_gate_above_the_store(ledger) -> None:
    """``lakeledger.Ledger`` is the store's Ledger plus the read side; the store class has none."""
    import lakeledger
    from lakeledger.store import Ledger as StoreLedger

    assert isinstance(ledger, lakeledger.Ledger) and isinstance(ledger, StoreLedger)
    assert not hasattr(StoreLedger, "view") and not hasattr(StoreLedger, "check")
    version = ledger.register_model_version("churn", artifact_uri="m.pkl")
    assert ledger.view("models").select("model", "version").rows() == [("churn", version)]
    assert ledger.check().ok
    assert lakeledger.__version__
