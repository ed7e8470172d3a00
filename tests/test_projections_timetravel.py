"""Time travel: a scripted history with known moments; the registry as of each of them, by
version and by commit time, long after the Delta log of those versions was cleaned up."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from lakeledger.projections import api
from lakeledger.store import Ledger, LogSettings
from lakeledger.store.errors import InvalidInput


def _registry(frame: pl.DataFrame) -> dict[int, str]:
    return dict(frame.select("version", "stage").iter_rows())


def test_registry_as_of_each_moment(tmp_path: Path) -> None:
    settings = LogSettings(
        checkpoint_interval=5, compact_every=4, keep_log_versions=5, vacuum_every=7
    )
    ledger = Ledger.open(tmp_path / "l", settings=settings)
    script = [
        ("register v1", lambda: ledger.register_model_version("fraud")),
        ("v1 to Staging", lambda: ledger.set_stage("fraud", 1, "Staging")),
        ("v1 to Production", lambda: ledger.set_stage("fraud", 1, "Production", expect="Staging")),
        ("register v2", lambda: ledger.register_model_version("fraud")),
        ("v2 to Production", lambda: ledger.set_stage("fraud", 2, "Production")),
        (
            "v1 back to Staging",
            lambda: ledger.set_stage("fraud", 1, "Staging", expect="Production"),
        ),
        ("features v1", lambda: ledger.register_artifact("features", "f/1")),
        ("features retired", lambda: ledger.retire_artifact("features", "leak")),
        ("features v2", lambda: ledger.register_artifact("features", "f/2")),
    ]
    moments: list[int] = []
    for _, step in script:
        step()
        moments.append(ledger.version)
    for _ in range(25):  # push the early versions out of the Delta log
        ledger.record_validation("model/fraud", "auc", True)
    ledger.log.maintainer.wait(60)  # log cleanup runs after the appends returned
    ledger.log.refresh()
    log_files = sorted(p.name for p in (tmp_path / "l" / "events" / "_delta_log").glob("*.json"))
    assert int(log_files[0].split(".")[0]) > moments[-1], (
        "the early versions must be gone from the Delta log"
    )

    expected_models = [
        {1: "None"},
        {1: "Staging"},
        {1: "Production"},
        {1: "Production", 2: "None"},
        {1: "Production", 2: "Production"},
        {1: "Staging", 2: "Production"},
    ]
    times = dict(ledger.history().select("version", "recorded_at").iter_rows())
    for version, want in zip(moments, expected_models, strict=False):
        # maintenance (compaction) commits take versions too: the moment's time is that of
        # the last commit that wrote events at or before it
        at = times[max(v for v in times if v <= version)]
        assert _registry(api.view(ledger, "models", as_of=version)) == want
        assert _registry(api.view(ledger, "models", as_of=at)) == want
        assert _registry(api.view(ledger, "models", as_of=at.isoformat())) == want

    def features(v: int) -> tuple[str, bool, int]:
        row = api.view(ledger, "artifacts", as_of=v).row(0, named=True)
        return row["uri"], row["retired"], row["versions"]

    assert features(moments[6]) == ("f/1", False, 1)
    assert features(moments[7]) == ("f/1", True, 1)
    assert features(moments[8]) == ("f/2", False, 2)
    assert api.view(ledger, "artifacts", as_of=moments[5]).height == 0
    # now == the last moment; the materialised view agrees with the time-travelled one
    now = api.view(ledger, "models")
    assert now.drop("stage_changed_at").equals(
        api.view(ledger, "models", as_of=ledger.version).drop("stage_changed_at")
    )


def test_as_of_a_version_not_reached_yet_is_refused(tmp_path: Path) -> None:
    """Answering "now" for a future version would change the answer once it is reached."""
    ledger = Ledger.open(tmp_path / "l")
    ledger.register_model_version("fraud")
    latest = ledger.version
    assert api.view(ledger, "models", as_of=latest).height == 1
    with pytest.raises(InvalidInput, match=f"after the ledger's latest version {latest}"):
        api.view(ledger, "models", as_of=latest + 1)
    with pytest.raises(InvalidInput, match="latest version"):
        api.check(ledger, as_of=str(latest + 5))
    with pytest.raises(InvalidInput, match="in the future"):
        api.view(ledger, "runs", as_of="2999-01-01T00:00:00Z")


def test_diff_between_two_moments(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l")
    ledger.register_model_version("fraud")
    ledger.register_model_version("fraud")
    t1 = ledger.version
    ledger.set_stage("fraud", 1, "Production")
    ledger.register_model_version("fraud")
    from lakeledger.projections.audit import diff

    changes = diff(
        api.view(ledger, "models", as_of=t1), api.view(ledger, "models"), ("model", "version")
    )
    got = {(r["change"], r["key"]): r for r in changes.iter_rows(named=True)}
    assert set(got) == {("changed", "fraud/1"), ("added", "fraud/3")}
    assert "stage" in got[("changed", "fraud/1")]["columns"]
    assert '"stage":"Production"' in got[("changed", "fraud/1")]["after"]
