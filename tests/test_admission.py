"""Invariants at the commit boundary: every door (append, emit/Run, CLI append) admits events
through one check; errors carry fields. Issue 10 item 4; issue 11 items 11-13, 15, 18."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from lakeledger import Ledger
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput, LedgerError, PathEscapeError


def _nothing_written(ledger: Ledger, version: int) -> None:
    ledger.flush()
    assert ledger.version == version


@pytest.mark.parametrize(
    "event",
    [
        ev.ArtifactRegistered(name="x", uri="../../etc/passwd"),
        ev.ArtifactRegistered(name="x", uri="FILE:///etc/passwd"),
        ev.ArtifactRegistered(name="x", uri="/etc/passwd"),
        ev.PartitionObserved(dataset="d", partition="date=2025-01-01", uri="../../../outside"),
    ],
)
def test_append_refuses_escaping_uris_with_fields(ledger: Ledger, event: ev.Event) -> None:
    before = ledger.version
    with pytest.raises(PathEscapeError) as info:
        ledger.append([event])
    assert info.value.field == "uri" and info.value.value == event.uri  # type: ignore[attr-defined]
    assert info.value.fix and "root" in str(info.value)
    _nothing_written(ledger, before)


def test_every_door_admits_through_the_same_check(ledger: Ledger, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bad = ev.ArtifactRegistered(name="x", uri="../../etc/passwd")
    with pytest.raises(PathEscapeError):
        ledger.emit(bad)  # the buffered writer: refused in the caller, not in a later flush
    assert ledger.writer.pending() == 0
    res = cli("--root", ledger.location.root, "append",
              input=json.dumps({"kind": "artifact.registered", "name": "x", "uri": "a\u0000b"}))
    assert res.code == 2 and "<stdin>:1" in res.err and "control character" in res.err, res.err
    assert "Traceback" not in res.err
    inside = ledger.append([ev.ArtifactRegistered(name="ok", uri=str(Path(ledger.location.root) / "m.pkl"))])
    assert inside.events[0].uri == "m.pkl"  # type: ignore[attr-defined]  # normalised once, for all doors


@pytest.mark.parametrize("name", ["", "  ", "a\nb"])
def test_stream_names_come_from_a_usable_field(ledger: Ledger, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ledger.append([ev.ModelVersionRegistered(model=name)])
    assert info.value.field == "model"


def test_non_scalar_params_and_non_numbers_are_refused_at_once(ledger: Ledger) -> None:
    before = ledger.version
    with ledger.run("train") as run:
        with pytest.raises(InvalidInput) as info:
            run.log_param("layers", [64, 32])  # type: ignore[arg-type]
        assert info.value.field == "value" and info.value.value == [64, 32]
        assert "json.dumps" in str(info.value)
        with pytest.raises(InvalidInput, match="finite"):
            run.log_metric("loss", math.nan)
        with pytest.raises(InvalidInput):
            run.log_metric("loss", "high")  # type: ignore[arg-type]
        run.log_param("layers", "64,32")
    with pytest.raises(InvalidInput) as info:
        ledger.run("x", params={"layers": [64, 32]})  # type: ignore[dict-item]
    assert info.value.field == "params.layers"
    with pytest.raises(InvalidInput):
        ledger.register_model_version("m", metrics={"auc": math.inf})
    runs = ledger.view("runs")  # still readable by every view
    assert json.loads(runs["params"][0]) == {"layers": "64,32"}
    assert ledger.version == before + 2  # run.started, then params + run.finished


def test_unknown_fields_are_errors_with_a_suggestion(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as info:
        ledger.record_validation("sales", "rows", True, obsreved=3)
    assert (info.value.field, info.value.value) == ("obsreved", 3)
    assert "did you mean 'observed'?" in str(info.value)
    with pytest.raises(InvalidInput, match="rowz"):
        ledger.observe_partition("d", "date=2025-01-01", rowz=3)
    assert ledger.version == 0


def test_model_versions_are_positive_and_consistent(ledger: Ledger, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("--root", ledger.location.root, "append",
              input='{"kind":"model.version_registered","model":"m","version":-5}')
    assert res.code == 2 and "<stdin>:1" in res.err and "negative" in res.err, res.err
    with pytest.raises(InvalidInput) as info:
        ledger.append([ev.ModelVersionRegistered(model="m", version=5)])  # skips 1-4
    assert info.value.field == "version" and "next one is 1" in str(info.value)
    with pytest.raises(InvalidInput):
        ledger.set_stage("m", 0, "Staging")
    assert ledger.append([ev.ModelVersionRegistered(model="m", version=1)]).events[0].version == 1  # type: ignore[attr-defined]
    assert ledger.register_model_version("m") == 2


def test_remote_schemes_without_a_driver_are_said_not_crashed(ledger: Ledger, cli) -> None:  # type: ignore[no-untyped-def]
    ledger.register_artifact("g", "gs://bucket/model.pkl")
    ledger.register_artifact("h", "hdfs://namenode/model.pkl")
    root = ledger.location.root
    for args in (["check"], ["show", "staleness"], ["check", "--json"]):
        res = cli("--root", root, *args)
        assert res.code in (0, 1) and "Traceback" not in res.err, res.err
    report = json.loads(cli("--root", root, "check", "--json").out)
    unchecked = {w["subject"]: w for w in report["warnings"] if w["warning"] == "not checked"}
    assert set(unchecked) == {"gs://bucket/model.pkl", "hdfs://namenode/model.pkl"}
    assert not any(p["problem"] == "missing" for p in report["problems"])


def test_check_warns_on_dangling_run_ids_without_failing(ledger: Ledger, cli) -> None:  # type: ignore[no-untyped-def]
    ledger.append([ev.MetricLogged(run_id="typo-run", key="loss", value=0.1)])
    ledger.register_model_version("fraud", run_id="ghost-run")
    report = ledger.check()
    assert report.ok
    subjects = {(w.subject, w.problem) for w in report.warnings}
    assert subjects == {("typo-run", "unknown run"), ("fraud@1", "unknown run")}
    res = cli("--root", ledger.location.root, "check")
    assert res.code == 0 and "typo-run" in res.out and "warning" in res.out


def test_cli_append_bytes_and_limits(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "l")
    good = '{"kind":"experiment.created","experiment":"ok"}\n'
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good.encode() + b'{"kind":"experiment.created","experiment":"\xff\xfe"}\n')
    res = cli("--root", root, "append", str(bad))
    assert res.code == 2 and f"{bad}:2" in res.err and "UTF-8" in res.err, res.err
    assert "Traceback" not in res.err
    sep = cli("--root", root, "append", "--json",
              input='{"kind":"experiment.created","experiment":"a\u2028b","tags":{"n":"x\u2029y"}}\n')
    assert sep.code == 0, sep.err
    [shown] = json.loads(cli("--root", root, "events", "--json").out)
    assert shown["experiment"] == "a\u2028b" and shown["tags"] == {"n": "x\u2029y"}
    for command in ("events", "history"):
        res = cli("--root", root, command, "--limit", "-1")
        assert res.code == 2 and "--limit -1" in res.err and "Traceback" not in res.err, res.err


def test_errors_carry_fields() -> None:
    err = InvalidInput("bad uri", field="uri", value="x", fix="give another").at("f.jsonl:3")
    assert (err.field, err.value, err.fix, err.where, err.transient) == (
        "uri", "x", "give another", "f.jsonl:3", False)
    assert str(err) == "f.jsonl:3: bad uri; give another"
    assert isinstance(err, LedgerError) and err.exit_code == 2


@pytest.mark.parametrize("value", [None, "x", True, 3, 0.5, -0.0, 2**63 - 1])
def test_a_scalar_in_an_any_field_is_admitted_as_itself(ledger: Ledger, value: object) -> None:
    """``Any`` fields take the fast check when their value is a scalar: it must come back equal."""
    event = ev.ValidationRecorded(target="t", check="c", passed=True, observed=value, details=value)
    ledger.append([event])
    [back] = [e for e in ledger.read() if isinstance(e, ev.ValidationRecorded)]
    assert (back.observed, back.details) == (value, value)
    assert type(back.observed) is type(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**64, {"a": math.nan}, [math.inf]])
def test_a_non_finite_or_too_big_number_in_an_any_field_is_refused(ledger: Ledger, value: object) -> None:
    before = ledger.version
    with pytest.raises(InvalidInput):
        ledger.append([ev.ValidationRecorded(target="t", check="c", passed=True, observed=value)])
    _nothing_written(ledger, before)
