"""The HTTP API against a real ``lakeledger serve`` process: append, validation, auth, limits,
typed helpers, reads. Clients are urllib and curl (a non-Python client)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from lakeledger.store import Ledger

from tests.serve_fixtures import TOKEN, Server

MAX_BODY = 300_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = str(tmp_path_factory.mktemp("serve") / "ledger")
    srv = Server(root, extra=["--max-body", str(MAX_BODY)]).start()
    yield srv
    assert srv.stop() == 0


def version(server: Server) -> int:
    return Ledger.open(server.root, create=False).version


def count(server: Server, **filters: object) -> int:
    return Ledger.open(server.root, create=False).events(**filters).collect().height  # type: ignore[arg-type]


def test_append_json_array_and_json_lines(server: Server) -> None:
    status, answer = server.request("POST", "/api/v1/events", [
        {"kind": "validation.recorded", "target": "api", "check": "a", "passed": True},
        {"kind": "model.version_registered", "model": "api-model"},
    ])
    assert status == 200 and answer["appended"] == 2 and answer["skipped"] == []
    assert answer["events"][1]["model_version"] == 1 and answer["version"] >= 1
    lines = b'{"kind":"validation.recorded","target":"api","check":"b","passed":false}\n' \
            b'{"kind":"validation.recorded","target":"api","check":"c\\u2028x","passed":true}\n'
    status, answer = server.request("POST", "/api/v1/events", raw=lines,
                                    headers={"Content-Type": "application/x-ndjson"})
    assert status == 200 and answer["appended"] == 2
    status, rows = server.request("GET", "/api/events?stream=validation/api")
    assert [r["check"] for r in rows] == ["a", "b", "c\u2028x"]
    assert rows[0]["commit"]["version"] < rows[1]["commit"]["version"]


def test_the_same_events_twice_are_stored_once(server: Server) -> None:
    body = [{"kind": "validation.recorded", "event_id": "0190a5a0-0000-7000-8000-00000000d0d0",
             "target": "twice", "check": "x", "passed": True}]
    first = server.request("POST", "/api/v1/events", body)[1]
    second = server.request("POST", "/api/v1/events", body)[1]
    assert first["appended"] == 1 and second["appended"] == 0
    assert second["skipped"] == ["0190a5a0-0000-7000-8000-00000000d0d0"] and second["version"] is None
    assert count(server, stream="validation/twice") == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'[{"kind":"validation.recorded","target":"t","chek":"c","passed":true}]', "field 'chek'"),
        (b'[{"kind":"no.such","target":"t"}]', "unknown kind 'no.such'"),
        (b'{"kind":"run.finished","run_id":"r","status":"done"}', "$.status"),
        (b'[{"kind":"validation.recorded"', "not valid JSON"),
        (b'{"kind":"validation.recorded","target":"t","check":"c","passed":true}\n{bad', "body:2"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "empty body"),
        (b'[{"kind":"artifact.registered","name":"a","uri":"../../etc/passwd"}]', "uri"),
    ],
)
def test_invalid_input_is_400_with_the_reason_and_nothing_written(server: Server, raw: bytes,
                                                                  reason: str) -> None:
    before = version(server)
    status, answer = server.request("POST", "/api/v1/events", raw=raw)
    assert status == 400, answer
    assert reason in answer["error"] and "Traceback" not in answer["error"]
    assert version(server) == before


def test_a_whole_batch_with_one_bad_event_is_refused(server: Server) -> None:
    before = count(server, stream="validation/half")
    good = {"kind": "validation.recorded", "target": "half", "check": "ok", "passed": True}
    status, answer = server.request("POST", "/api/v1/events", [good, {**good, "passed": "maybe"}])
    assert status == 400 and "body:2" in answer["error"]
    assert count(server, stream="validation/half") == before


def test_token_is_required_wrong_or_missing_is_401_and_nothing_written(server: Server) -> None:
    before = version(server)
    body = [{"kind": "validation.recorded", "target": "auth", "check": "c", "passed": True}]
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        status, answer = server.request("POST", "/api/v1/events", body, token=token)
        assert status == 401 and "token" in answer["error"]
    assert server.request("GET", "/api/events", token="wrong")[0] == 401
    assert server.request("GET", "/api/health", token=None)[0] == 200
    assert version(server) == before


def test_body_limit_is_413_and_nothing_written(server: Server) -> None:
    before = version(server)
    event = {"kind": "validation.recorded", "target": "big", "check": "c", "passed": True,
             "details": "x" * 1000}
    status, answer = server.request("POST", "/api/v1/events", [event] * 400)
    assert status == 413 and str(MAX_BODY) in answer["error"]
    bomb = gzip.compress(json.dumps([event] * 400).encode())  # small on the wire, large inside
    status, answer = server.request("POST", "/api/v1/events", raw=bomb,
                                    headers={"Content-Encoding": "gzip"})
    assert status == 413
    assert version(server) == before


def test_gzip_bodies_are_accepted(server: Server) -> None:
    raw = gzip.compress(b'{"kind":"validation.recorded","target":"gz","check":"c","passed":true}')
    status, answer = server.request("POST", "/api/v1/events", raw=raw, headers={"Content-Encoding": "gzip"})
    assert status == 200 and answer["appended"] == 1


def test_typed_helpers_runs_metrics_models_validations(server: Server) -> None:
    status, run = server.request("POST", "/api/v1/runs", {"job": "train", "params": {"lr": 0.1}})
    assert status == 201
    run_id = run["run_id"]
    status, answer = server.request("POST", f"/api/v1/runs/{run_id}/metrics",
                                    {"metrics": {"loss": 0.5, "acc": 0.8}, "step": 1})
    assert status == 200 and answer["appended"] == 2
    status, _ = server.request("POST", f"/api/v1/runs/{run_id}/metrics",
                               [{"key": "loss", "value": 0.25, "step": 2}])
    assert status == 200
    assert server.request("POST", f"/api/v1/runs/{run_id}/params", {"layers": 3})[0] == 200
    assert server.request("POST", f"/api/v1/runs/{run_id}/finish", {"status": "success"})[0] == 200
    status, runs = server.request("GET", f"/api/views/runs?where=run_id={run_id}")
    assert status == 200 and len(runs) == 1
    assert runs[0]["status"] == "finished" or runs[0]["status"] == "success"
    assert runs[0]["params"]["layers"] == 3 and runs[0]["metrics"]["loss"] == 0.25

    status, reg = server.request("POST", "/api/v1/models/typed/versions", {"run_id": run_id})
    assert status == 201 and reg["events"][0]["model_version"] == 1
    assert server.request("POST", "/api/v1/models/typed/versions", {})[1]["events"][0]["model_version"] == 2
    before = version(server)
    status, answer = server.request("POST", "/api/v1/models/typed/versions/1/stage",
                                    {"stage": "Production", "expect": "Staging"})
    assert status == 409 and "Staging" in answer["error"] and version(server) == before
    status, _ = server.request("POST", "/api/v1/models/typed/versions/1/stage",
                               {"stage": "Staging", "expect": None})
    assert status == 200
    status, _ = server.request("POST", "/api/v1/models/typed/versions/1/stage",
                               {"stage": "Production", "expect": "Staging", "reason": "better"})
    assert status == 200
    status, models = server.request("GET", "/api/views/models?where=model=typed")
    assert {(m["version"], m["stage"]) for m in models} == {(1, "Production"), (2, "None")}

    status, answer = server.request("POST", "/api/v1/validations",
                                    [{"target": "typed", "check": "rows", "passed": False, "observed": 3}])
    assert status == 200 and answer["appended"] == 1
    status, answer = server.request("POST", "/api/v1/validations", {"target": "typed", "check": "x"})
    assert status == 400 and "passed" in answer["error"]


def test_read_api_views_as_of_audit_events_since_openapi(server: Server) -> None:
    server.request("POST", "/api/v1/events", [{"kind": "model.version_registered", "model": "asof"}])
    v1 = version(server)
    server.request("POST", "/api/v1/models/asof/versions/1/stage", {"stage": "Production"})
    now = server.request("GET", "/api/views/models?where=model=asof")[1]
    then = server.request("GET", f"/api/views/models?where=model=asof&as_of={v1}")[1]
    assert now[0]["stage"] == "Production" and then[0]["stage"] == "None"
    status, trail = server.request("GET", "/api/audit/model/asof")
    assert status == 200 and [t["kind"] for t in trail] == ["model.version_registered", "model.stage_changed"]
    status, rows = server.request("GET", f"/api/events?since={v1}&kind=model.*")
    assert status == 200 and all(r["commit"]["version"] > v1 for r in rows) and rows
    status, answer = server.request("GET", "/api/views/models?as_of=yesterday-ish")
    assert status == 400 and "as-of" in answer["error"]
    status, answer = server.request("GET", "/api/views/models?where=nocolumn=1")
    assert status == 400 and "no column" in answer["error"]
    assert server.request("GET", "/api/views/nope")[0] == 400
    status, answer = server.request("GET", "/api/views/models?fliter=model%3D'asof'")
    assert status == 400 and "unknown query parameter 'fliter'" in answer["error"]
    assert server.request("GET", "/api/events?since=-1")[0] == 400
    status, spec = server.request("GET", "/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/api/v1/events", "/api/v1/lineage", "/api/views/{name}", "/api/v1/subscribe"} <= set(spec["paths"])


def test_curl_appends_json_lines(server: Server, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps({"kind": "validation.recorded", "target": "curl",
                                           "check": f"c{i}", "passed": True}) for i in range(5)))
    done = subprocess.run(
        [curl, "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {TOKEN}",
         "-H", "Content-Type: application/x-ndjson", "--data-binary", f"@{lines}",
         f"{server.url}/api/v1/events"],
        capture_output=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["appended"] == 5
    assert count(server, stream="validation/curl") == 5


def test_a_run_started_over_http_is_not_lost_when_the_server_restarts(tmp_path: Path) -> None:
    srv = Server(str(tmp_path / "ledger")).start()
    run_id = srv.request("POST", "/api/v1/runs", {"job": "remote"})[1]["run_id"]
    assert srv.stop() == 0
    srv.start()
    try:
        status, runs = srv.request("GET", f"/api/views/runs?where=run_id={run_id}")
        assert status == 200 and runs[0]["status"] == "running", runs
        trail = srv.request("GET", f"/api/audit/run/{run_id}")[1]
        assert trail[0]["who"].endswith("/serve")
    finally:
        assert srv.stop() == 0


def test_unknown_paths_and_methods_answer_json(server: Server) -> None:
    status, answer = server.request("GET", "/api/nothing-here")
    assert status == 404 and "/api/nothing-here" in answer["error"]
    status, answer = server.request("GET", "/api/v1/events")
    assert status == 405 and "error" in answer


NODE_CLIENT = """
const http = require("http");
const body = JSON.stringify([1, 2, 3].map(i => ({kind: "validation.recorded", target: "node", check: "c" + i,
                                                 passed: true})));
const req = http.request({host: "127.0.0.1", port: process.argv[1], path: "/api/v1/events", method: "POST",
                          headers: {"Content-Type": "application/json", "Authorization": "Bearer " + process.argv[2]}},
  res => { let data = ""; res.on("data", c => data += c);
           res.on("end", () => { console.log(res.statusCode, JSON.parse(data).appended); }); });
req.end(body);
"""


def test_a_node_client_appends(server: Server) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run([node, "-e", NODE_CLIENT, str(server.port), TOKEN], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "3"]
    assert count(server, stream="validation/node") == 3


def test_an_escaped_event_id_key_is_still_checked_against_the_log(server: Server) -> None:
    key = "0190a5a0-0000-7000-8000-00000000e5c0"
    plain = b'[{"kind":"validation.recorded","event_id":"%s","target":"esc","check":"c","passed":true}]' % key.encode()
    escaped = plain.replace(b'"event_id"', b'"event\\u005fid"')
    assert server.request("POST", "/api/v1/events", raw=plain)[1]["appended"] == 1
    assert server.request("POST", "/api/v1/events", raw=escaped)[1]["skipped"] == [key]
    assert count(server, stream="validation/esc") == 1


def test_read_api_searches_views_in_the_filter_language(server: Server) -> None:
    """``?filter=&order_by=&limit=&columns=`` as the CLI's ``--filter`` and friends."""
    runs = []
    for auc in (0.7, 0.95, 0.91):
        status, started = server.request("POST", "/api/v1/runs", {"job": "search-api"})
        run_id = started["run_id"]
        server.request("POST", f"/api/v1/runs/{run_id}/metrics", {"metrics": {"auc": auc}})
        runs.append((auc, run_id))
    query = "filter=" + quote("metrics.auc > 0.9 and attributes.job = 'search-api'")
    query += "&order_by=" + quote("metrics.auc DESC") + "&columns=run_id,metrics.auc"
    status, rows = server.request("GET", f"/api/views/runs?{query}")
    assert status == 200, rows
    assert rows == [{"run_id": r, "metrics.auc": a} for a, r in sorted(runs, reverse=True) if a > 0.9]
    status, rows = server.request("GET", f"/api/views/runs?{query}&limit=1")
    assert status == 200 and [r["metrics.auc"] for r in rows] == [0.95]
    status, answer = server.request("GET", "/api/views/runs?filter=" + quote("metrics.auc >> 1"))
    assert status == 400 and "column" in answer["error"] and "^" in answer["error"]

