"""HTTP/GitHub ingestion against a real HTTP server on 127.0.0.1 serving GitHub-style pages."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.config import decode
from lakeledger.ingest.extract.runner import run_sources
from lakeledger.ingest.extract.sources import Context, build
from lakeledger.store import Ledger

from .ingest_fixtures import bronze, load, metrics, payloads, quarantine, write_config

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TOKEN = "ghp_test_token_value_123"


def issue(n: int, minutes: int) -> dict[str, Any]:
    at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": 1000 + n,
        "number": n,
        "title": f"issue {n}",
        "state": "open",
        "created_at": at,
        "updated_at": at,
        "closed_at": None,
        "comments": 0,
        "user": {"login": "octo"},
        "labels": [{"name": "bug"}],
        "body": "text",
    }


@dataclass
class FakeGithub:
    """GitHub's issues endpoint: ``since`` (>=), ascending by updated_at, Link pagination,
    422 beyond ``window`` results, and scripted faults served before normal answers."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    window: int = 10_000
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""

    def answer(
        self, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(
            {"path": path, "query": query, "at": time.time(), "auth": headers.get("Authorization")}
        )
        if self.faults:
            status, extra = self.faults.pop(0)
            if status == 0:  # a stalled server: answer only after the client gave up
                time.sleep(float(extra["sleep"]))
            else:
                return status, extra, json.dumps({"message": "fault"}).encode()
        if path != "/repos/o/r/issues":
            return 404, {}, b'{"message": "Not Found"}'
        per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
        if page * per_page > self.window:
            return (
                422,
                {},
                b'{"message": "In order to keep the API fast for everyone, '
                b'pagination is limited for this resource."}',
            )
        since = query.get("since")
        found = sorted(
            (i for i in self.issues if not since or i["updated_at"] >= since),
            key=lambda i: (i["updated_at"], i["number"]),
        )
        chunk = found[(page - 1) * per_page : page * per_page]
        links = []
        if page * per_page < len(found):
            nxt = urllib.parse.urlencode({**query, "page": page + 1})
            last = urllib.parse.urlencode({**query, "page": -(-len(found) // per_page)})
            links.append(f'<{self.base}{path}?{nxt}>; rel="next"')
            links.append(f'<{self.base}{path}?{last}>; rel="last"')
        return 200, {"Link": ", ".join(links)} if links else {}, json.dumps(chunk).encode()


@pytest.fixture
def github() -> Iterator[FakeGithub]:
    fake = FakeGithub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            status, headers, body = fake.answer(
                parts.path, dict(urllib.parse.parse_qsl(parts.query)), dict(self.headers)
            )
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out meanwhile

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def github_config(tmp_path: Path, fake: FakeGithub, **options: Any) -> Path:
    source = {
        "name": "issues",
        "kind": "github",
        "options": {
            "repo": "o/r",
            "api_url": fake.base,
            "per_page": 5,
            "token": "${LL_TEST_GH_TOKEN}",
            "backoff_s": 0.01,
            **options,
        },
    }
    return write_config(tmp_path / "sources.toml", [source])


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LL_TEST_GH_TOKEN", TOKEN)


def test_pages_cursor_and_second_run(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(n, n) for n in range(1, 13)]
    loaded = load(github_config(tmp_path, github))
    shares: list[float | None] = []
    [first] = run_sources(ledger, loaded, progress=lambda r: shares.append(r.done))
    assert first.status == "success", first.error
    assert (first.batches, first.written, first.quarantined) == (3, 12, 0)
    assert shares == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]  # from Link rel="last"
    assert [r["query"].get("page") for r in github.requests] == [None, "2", "3"]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in github.requests)
    assert github.requests[0]["query"]["sort"] == "updated"
    rows = bronze(ledger, "issues").sort("number")
    assert rows["number"].to_list() == list(range(1, 13))
    assert json.loads(rows["user"][0]) == {"login": "octo"}
    assert str(rows.schema["updated_at"]) == "Datetime(time_unit='us', time_zone='UTC')"

    # second run: `since` = last updated_at; the issue at exactly that time is not taken twice,
    # an updated issue and a new one are.
    github.requests.clear()
    github.issues[2] = issue(3, 100)
    github.issues.append(issue(13, 101))
    [second] = run_sources(ledger, loaded)
    assert github.requests[0]["query"]["since"] == "2024-01-01T00:12:00Z"
    assert (second.written, second.skipped) == (2, 1)
    assert bronze(ledger, "issues").height == 14
    cursor = payloads(ledger, "ingest.checkpoint", "source/issues")[-1]["cursor"]
    assert cursor == {"since": "2024-01-01T01:41:00Z", "keys": ["1013"]}
    assert metrics(ledger, second.run_id)["records_written"] == 2

    # nothing new: one request, nothing written
    [third] = run_sources(ledger, loaded)
    assert (third.written, third.skipped) == (0, 1)


def test_result_window_422_stops_cleanly_and_resumes(
    tmp_path: Path, ledger: Ledger, github: FakeGithub
) -> None:
    github.issues = [issue(n, n) for n in range(1, 21)]
    github.window = 10  # 2 pages of 5, then 422
    loaded = load(github_config(tmp_path, github))
    [first] = run_sources(ledger, loaded)
    assert first.status == "success" and first.written == 10
    assert first.stop_reason and "HTTP 422 at page 3" in first.stop_reason
    [tag] = [p for p in payloads(ledger, "run.tag_set", f"run/{first.run_id}") if p["key"] == "stop_reason"]
    assert "422" in tag["value"]
    # the next runs go on from `since` and get past the window
    second = run_sources(ledger, loaded)[0]
    third = run_sources(ledger, loaded)[0]
    assert second.written + third.written == 10
    assert sorted(bronze(ledger, "issues")["number"]) == list(range(1, 21))


def test_rate_limits_and_5xx_are_waited_out(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(n, n) for n in range(1, 8)]
    reset = int(time.time()) + 1
    github.faults = [
        (502, {}),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}),
        (429, {"Retry-After": "0"}),
    ]
    [result] = run_sources(ledger, load(github_config(tmp_path, github)))
    assert result.status == "success", result.error
    assert result.written == 7
    assert len(github.requests) == 5  # 3 faults, then 2 pages
    assert github.requests[2]["at"] >= reset  # the request after the 403 waited for the reset


def test_long_rate_limit_stops_the_run_cleanly(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(1, 1)]
    github.faults = [(429, {"Retry-After": "3600"})]
    [result] = run_sources(ledger, load(github_config(tmp_path, github, max_wait_s=5)))
    assert result.status == "success" and result.written == 0
    assert "rate limited for 3600s" in (result.stop_reason or "")


def test_persistent_5xx_fails_after_retries(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.faults = [(503, {})] * 3
    [result] = run_sources(ledger, load(github_config(tmp_path, github, max_retries=2)))
    assert result.status == "failed"
    assert "failed 3 times, last: HTTP 503" in (result.error or "")


def test_bad_records_quarantined_token_never_stored(
    tmp_path: Path, ledger: Ledger, github: FakeGithub
) -> None:
    bad = {**issue(2, 2), "number": "two"}
    github.issues = [issue(1, 1), bad, {**issue(3, 3), "updated_at": "yesterday"}]
    samples = tmp_path / "samples"
    [result] = run_sources(ledger, load(github_config(tmp_path, github, samples_dir=str(samples))))
    assert (result.written, result.quarantined) == (1, 2)
    rows = quarantine(ledger, "issues").sort("row")
    assert rows["reason"][0] == "number: Expected `int`, got `str`"
    assert rows["reason"][1].startswith("updated_at: Invalid RFC3339")
    assert json.loads(rows["raw"][0])["number"] == "two"
    assert rows["origin"][0].startswith(github.base)
    assert len(list(samples.glob("issues/*.json"))) == 1
    # the token went out in the header, and nowhere into the ledger, bronze, quarantine or samples
    assert github.requests[0]["auth"] == f"Bearer {TOKEN}"
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "sources.toml":
            assert TOKEN.encode() not in path.read_bytes(), path


def test_generic_http_page_parameter_pagination(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(n, n) for n in range(1, 8)]
    source = {
        "name": "plain",
        "kind": "http",
        "schema": {"number": "int", "title": "str"},
        "options": {
            "url": f"{github.base}/repos/o/r/issues",
            "pagination": "page",
            "per_page_param": "per_page",
            "per_page": 3,
            "backoff_s": 0.01,
        },
    }
    [result] = run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert result.written == 7 and result.batches == 4  # 3 + 3 + 1 + an empty last page
    assert sorted(bronze(ledger, "plain")["number"]) == list(range(1, 8))


def test_timeout_is_retried(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(1, 1), issue(2, 2)]
    # a stall well past the timeout, and a timeout a loaded machine's normal answer stays under
    github.faults = [(0, {"sleep": "4"})]
    [result] = run_sources(ledger, load(github_config(tmp_path, github, timeout_s=1.5)))
    assert result.status == "success", result.error
    assert result.written == 2 and len(github.requests) == 2


def test_pull_requests_can_be_left_out(tmp_path: Path, ledger: Ledger, github: FakeGithub) -> None:
    github.issues = [issue(1, 1), {**issue(2, 2), "pull_request": {"url": "x"}}, issue(3, 3)]
    config = github_config(tmp_path, github, include_pulls=False)
    [result] = run_sources(ledger, load(config))
    assert (result.written, result.skipped) == (2, 1)
    assert sorted(bronze(ledger, "issues")["number"]) == [1, 3]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=25),  # updated_at minute of each record (many ties)
    st.integers(1, 4),  # page size
    st.integers(0, 8),  # pages read before the "crash"
)
def test_since_cursor_gives_every_record_exactly_once(
    minutes: list[int], per_page: int, crash_after: int
) -> None:
    """An API filtering ``updated_at >= since``, ascending: stop after any page, restart from the
    checkpointed cursor, and every record is ingested exactly once."""
    records = sorted(
        ({"id": i, "updated_at": f"2024-01-01T00:0{m}:00Z"} for i, m in enumerate(minutes)),
        key=lambda r: r["updated_at"],
    )
    raw = {
        "sources": [
            {
                "name": "h",
                "kind": "http",
                "cursor": "updated_at",
                "schema": {"id": "int", "updated_at": "datetime"},
                "options": {"url": "http://unused", "cursor_param": "since"},
            }
        ]
    }
    source = build(decode(raw).source("h"), Context())

    def run(state: dict[str, Any], max_pages: int) -> list[int]:
        since = state.get("since")
        found = [r for r in records if since is None or r["updated_at"] >= since]
        got: list[int] = []
        for page in range(0, len(found), per_page)[:max_pages]:
            fresh, _ = source.unseen(found[page : page + per_page], state)
            got += [r["id"] for r in fresh]
        return got

    state: dict[str, Any] = {}
    first = run(state, crash_after)
    rest = run(dict(state), 10_000)
    assert sorted(first + rest) == list(range(len(minutes)))
