"""The real ``lakeledger`` executable: init, append, events, history; exit codes 0/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Backend

GOOD = "\n".join([
    '{"kind":"run.started","run_id":"r1","job":"etl","params":{"rows":10}}',
    '{"kind":"model.version_registered","model":"fraud","framework":"sklearn"}',
    '{"kind":"model.version_registered","model":"fraud"}',
    '{"kind":"model.stage_changed","model":"fraud","version":1,"stage":"Staging"}',
    "",
    '{"kind":"run.finished","run_id":"r1","status":"success","event_id":"fixed-id-1"}',
])


def test_init_append_events_history(backend: Backend, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = backend.cli_args()
    assert cli(*args, "init").code == 0
    res = cli(*args, "append", "--json", input=GOOD)
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["version"] == 1
    assert [e.get("model_version") for e in out["events"]] == [None, 1, 2, None, None]
    res = cli(*args, "events", "--json", "--stream", "model/fraud")
    events = json.loads(res.out)
    assert [(e["kind"], e.get("version")) for e in events] == [
        ("model.version_registered", 1), ("model.version_registered", 2), ("model.stage_changed", 1)]
    assert events[2]["previous_stage"] == "None" and events[2]["commit"]["version"] == 1
    # a retried file is idempotent for caller-supplied ids
    again = cli(*args, "append", input='{"kind":"run.finished","run_id":"r1","status":"success","event_id":"fixed-id-1"}')
    assert again.code == 0 and "1 already present" in again.out
    table = cli(*args, "events", "--kind", "run.*", "--limit", "1")
    assert table.code == 0 and "run.finished" in table.out and "run.started" not in table.out
    hist = json.loads(cli(*args, "history", "--json").out)
    assert [h["version"] for h in hist] == [1] and hist[0]["events"] == 5


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"kind":"run.started","job":"a"}\n{"kind":"run.started", "job": ', "<stdin>:3: not valid JSON"),
        ('{"kind":"teleport"}', "<stdin>:2: field 'kind': unknown kind 'teleport'"),
        ('{"kind":"run.metric_logged","run_id":"r","key":"k","value":"high"}', "<stdin>:2: run.metric_logged: Expected `float`, got `str` - at `$.value`"),
        ('{"kind":"run.tag_set","run_id":"r","key":"k","value":"v","color":"red"}', "<stdin>:2: field 'color'"),
        ('{"kind":"artifact.registered","name":"a","uri":"../../etc/passwd"}', "<stdin>:2: field 'uri'"),
        ('["not", "an", "object"]', "<stdin>:2: expected a JSON object"),
        ('{"kind":"run.finished","run_id":"r"}', "<stdin>:2: run.finished: Object missing required field `status`"),
    ],
)
def test_bad_input_exits_2_naming_line_and_field_and_writes_nothing(
    tmp_path: Path, cli, lines: str, message: str  # type: ignore[no-untyped-def]
) -> None:
    root = str(tmp_path / "l")
    assert cli("--root", root, "init").code == 0
    # the first line is valid: the bad one after it must keep it out of the log too
    res = cli("--root", root, "append", input='{"kind":"experiment.created","experiment":"ok"}\n' + lines)
    assert res.code == 2
    assert message in res.err, res.err
    assert "Traceback" not in res.err
    assert json.loads(cli("--root", root, "events", "--json").out) == []


def test_usage_errors_exit_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("--root", str(tmp_path / "none"), "events").code == 2  # not initialised
    assert cli("frobnicate").code == 2
    root = str(tmp_path / "l")
    cli("--root", root, "init")
    res = cli("--root", root, "events", "--as-of", "last week")
    assert res.code == 2 and "neither a version number nor an ISO time" in res.err
    missing = cli("--root", root, "append", str(tmp_path / "missing.jsonl"))
    assert missing.code == 2 and "cannot read" in missing.err


def test_root_comes_from_the_environment(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    env = {"LAKELEDGER_ROOT": str(tmp_path / "envroot")}
    assert cli("init", env=env).code == 0
    assert cli("append", input='{"kind":"experiment.created","experiment":"e"}', env=env).code == 0
    assert "experiment.created" in cli("events", env=env).out
