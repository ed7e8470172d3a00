"""Subscriptions: SSE from a real server, ``ledger.subscribe`` resuming after SIGKILL from its
durable position, ``lakeledger follow`` delivering to a webhook that comes up late and to --exec."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lakeledger.store import Ledger
from lakeledger.store.events import ValidationRecorded
from lakeledger.store.subscription import Position, stored_position

from tests.serve_fixtures import CLI, TOKEN, Server, free_port


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(str(tmp_path / "ledger")).start()
    yield srv
    assert srv.stop() == 0


def sse(server: Server, query: str, headers: dict[str, str] | None = None) -> tuple[list[dict], threading.Thread]:
    got: list[dict] = []
    req = urllib.request.Request(f"{server.url}/api/v1/subscribe?{query}",
                                 headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})

    def read() -> None:
        with urllib.request.urlopen(req, timeout=120) as stream:
            message: dict[str, str] = {}
            for line in stream:
                text = line.decode().rstrip("\n")
                if not text:
                    if "data" in message:
                        got.append({"id": message["id"], "event": message["event"],
                                    "data": json.loads(message["data"])})
                    message = {}
                elif not text.startswith(":"):
                    key, _, value = text.partition(": ")
                    message[key] = value

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return got, thread


def test_sse_streams_matching_events_as_they_commit_and_resumes_by_last_event_id(server: Server) -> None:
    got, _ = sse(server, "kind=model.*&since=0")
    time.sleep(0.5)
    server.request("POST", "/api/v1/events", [{"kind": "model.version_registered", "model": "m"},
                                              {"kind": "validation.recorded", "target": "t", "check": "c",
                                               "passed": True}])
    server.request("POST", "/api/v1/models/m/versions/1/stage", {"stage": "Production"})
    wait_for(lambda: len(got) >= 2, what="two model events over SSE")
    assert [g["event"] for g in got] == ["model.version_registered", "model.stage_changed"]
    assert got[1]["data"]["stage"] == "Production"
    assert got[1]["id"] == f"{got[1]['data']['commit']['version']}:{got[1]['data']['commit']['seq']}"
    time.sleep(1.5)
    assert len(got) == 2  # the validation was not sent
    again, _ = sse(server, "kind=model.*", {"Last-Event-ID": got[0]["id"]})
    wait_for(lambda: len(again) >= 1, what="resumed SSE")
    assert [g["event"] for g in again] == ["model.stage_changed"]
    status, answer = server.request("GET", "/api/v1/subscribe?since=abc")
    assert status == 400 and "since" in answer["error"]


SUBSCRIBER = textwrap.dedent("""
    import sys, time
    from lakeledger.store import Ledger
    ledger = Ledger.open(sys.argv[1], create=False)
    with open(sys.argv[2], "a") as out:
        for event in ledger.subscribe(kind="validation.recorded", consumer="worker", batch=5, follow=False):
            out.write(event.event_id + "\\n"); out.flush()
            time.sleep(0.05)
""")


def test_a_subscriber_killed_and_restarted_resumes_from_its_position(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    ledger = Ledger.open(root)
    ids = [ledger.append([ValidationRecorded(target="s", check=f"c{i}", passed=True)]).events[0].event_id
           for i in range(3)]
    ids += [e.event_id for e in ledger.append(
        [ValidationRecorded(target="s", check=f"b{i}", passed=True) for i in range(57)]).events]
    handled = tmp_path / "handled.txt"
    handled.touch()
    first = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, root, str(handled)])
    wait_for(lambda: len(handled.read_text().split()) >= 25, what="the subscriber to handle 25 events")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    before_restart = handled.read_text().split()
    saved = stored_position(ledger, "worker")
    assert saved is not None and saved > Position(0, -1)
    second = subprocess.run([sys.executable, "-c", SUBSCRIBER, root, str(handled)], timeout=300, check=False)
    assert second.returncode == 0
    lines = handled.read_text().split()
    assert set(lines) == set(ids)  # at least once: nothing skipped
    resumed = lines[len(before_restart):]
    # resumed where it had committed: nothing at or before the saved position came again
    positions = {row["event_id"]: Position(row["version"], row["seq"])
                 for row in ledger.events(kind="validation.recorded").collect().iter_rows(named=True)}
    assert resumed and min(positions[i] for i in resumed) > saved
    assert len(lines) - len(ids) < 10  # only the batch in hand at the kill came again
    assert stored_position(ledger, "worker") == max(positions.values())


class Receiver(BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_follow_webhook_gets_every_stage_change_once_when_it_is_up_again(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    ledger = Ledger.open(root)
    ledger.register_model_version("fraud")
    port = free_port()
    follower = subprocess.Popen([*CLI, "--root", root, "follow", "--kind", "model.stage_changed",
                                 "--consumer", "hooks", "--webhook", f"http://127.0.0.1:{port}/hook",
                                 "--max-backoff", "1", "--poll", "0.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for stage in ("Staging", "Production", "Archived"):
            ledger.set_stage("fraud", 1, stage)
        ledger.append([ValidationRecorded(target="noise", check="c", passed=True)])
        # the receiver is down: failures are recorded on the consumer's stream
        wait_for(lambda: ledger.events(kind="consumer.position").collect().height >= 1,
                 what="a recorded delivery failure")
        failure = json.loads(ledger.events(kind="consumer.position").collect()["payload"][0])
        assert failure["consumer"] == "hooks" and failure["error"] and failure["attempts"] == 1
        Receiver.got = []
        receiver = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        wait_for(lambda: len(Receiver.got) >= 3, what="three webhook deliveries")
        time.sleep(1.0)
        assert [g["stage"] for g in Receiver.got] == ["Staging", "Production", "Archived"]
        assert len({g["event_id"] for g in Receiver.got}) == 3
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(60) == 0
        again = subprocess.run([*CLI, "--root", root, "follow", "--kind", "model.stage_changed",
                                "--consumer", "hooks", "--webhook", f"http://127.0.0.1:{port}/hook", "--once"],
                               capture_output=True, timeout=300, check=False)
        assert again.returncode == 0, again.stderr
        assert len(Receiver.got) == 3  # the position was kept: nothing delivered twice
        receiver.shutdown()
    finally:
        if follower.poll() is None:
            follower.kill()


def test_follow_exec_gets_each_event_on_stdin(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    ledger = Ledger.open(root)
    ledger.register_model_version("m")
    ledger.set_stage("m", 1, "Production")
    out = tmp_path / "out.jsonl"
    done = subprocess.run([*CLI, "--root", root, "follow", "--kind", "model.*", "--consumer", "sh",
                           "--exec", f"cat >> {out}; echo >> {out}", "--once"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert [e["kind"] for e in events] == ["model.version_registered", "model.stage_changed"]
    assert events[1]["commit"]["version"] == 2
    bad = subprocess.run([*CLI, "--root", root, "follow", "--webhook", "ftp://x", "--once"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "--webhook" in bad.stderr
    # without --exec/--webhook: JSON Lines on stdout (--jsonl names it), one event per line
    lines = subprocess.run([*CLI, "--root", root, "follow", "--kind", "model.*", "--since", "0", "--jsonl",
                            "--once"], capture_output=True, text=True, timeout=300, check=False)
    assert lines.returncode == 0, lines.stderr
    assert [json.loads(line)["kind"] for line in lines.stdout.splitlines()] == [e["kind"] for e in events]
    both = subprocess.run([*CLI, "--root", root, "follow", "--jsonl", "--exec", "cat", "--once"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert both.returncode == 2 and "--jsonl" in both.stderr


def test_subscription_positions_failures_and_interrupted_handling(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "ledger"))
    ledger.register_model_version("m")
    ledger.append([ValidationRecorded(target="t", check="c", passed=True)])
    ledger.set_stage("m", 1, "Production")
    sub = ledger.subscribe(kind="model.*", consumer="unit", follow=False)
    first = next(sub)
    assert first.kind == "model.version_registered"
    second = next(sub)  # both came in one batch: nothing saved yet
    assert second.kind == "model.stage_changed" and stored_position(ledger, "unit") is None
    sub.record_failure("receiver down", 1)  # recorded at the position before the failing event
    assert stored_position(ledger, "unit") == Position(1, 0)
    sub.close(handled=False)  # interrupted while handling the second: it stays unhandled
    assert stored_position(ledger, "unit") == Position(1, 0)
    again = list(ledger.subscribe(kind="model.*", consumer="unit", follow=False))
    assert [e.kind for e in again] == ["model.stage_changed"]
    assert stored_position(ledger, "unit") == Position(3, 0)
    assert list(ledger.subscribe(consumer="unit", follow=False)) == []  # positions are not news
    assert [e.kind for e in ledger.subscribe(since=2, follow=False)] == ["model.stage_changed"]
    with pytest.raises(Exception, match="consumer name"):
        ledger.subscribe(consumer="a/b")


def test_a_browser_session_streams_events_with_its_login_cookie_but_cannot_write_with_it(server: Server) -> None:
    """EventSource cannot send ``Authorization``: the dashboard's login cookie authorizes the
    stream, as a browser sends it (a cookie-keeping client: login form, redirect, then SSE).
    The cookie never authorizes a write, and a token in the query string is never accepted."""
    import http.cookiejar
    import urllib.error
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"token": TOKEN}).encode()
    with browser.open(f"{server.url}/login", data=form, timeout=120) as page:  # 303 -> /runs
        assert page.status == 200 and page.geturl().endswith("/runs")
    assert [c.name for c in jar] == ["lakeledger_token"]

    got: list[dict] = []

    def read() -> None:
        request = urllib.request.Request(f"{server.url}/api/v1/subscribe?kind=validation.*",
                                         headers={"Accept": "text/event-stream"})
        with browser.open(request, timeout=120) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            message: dict[str, str] = {}
            for line in stream:
                text = line.decode().rstrip("\n")
                if not text and "data" in message:
                    got.append(json.loads(message["data"]))
                    message = {}
                elif text and not text.startswith(":"):
                    key, _, value = text.partition(": ")
                    message[key] = value

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1.0)  # subscribed "from now on": let the stream start before appending
    status, _ = server.request("POST", "/api/v1/events",
                               [{"kind": "validation.recorded", "target": "web", "check": "c", "passed": True}])
    assert status == 200
    wait_for(lambda: len(got) >= 1, what="the event streamed to the cookie session")
    assert got[0]["target"] == "web" and got[0]["kind"] == "validation.recorded"

    before = Ledger.open(server.root, create=False).version
    write = urllib.request.Request(f"{server.url}/api/v1/events", method="POST",
                                   data=b'[{"kind":"validation.recorded","target":"csrf","check":"c","passed":true}]',
                                   headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(write, timeout=120)
    assert refused.value.code == 401
    status, _ = server.request("GET", f"/api/v1/subscribe?token={TOKEN}", token=None)
    assert status == 401
    status, _ = server.request("GET", "/api/events", token=None, headers={"Cookie": "lakeledger_token=wrong"})
    assert status == 401
    assert Ledger.open(server.root, create=False).version == before
