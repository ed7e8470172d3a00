"""Pages as of a past version show that past state, next to pages "now" served from the live
states (against a real ``lakeledger serve`` process): the runs list and a run's page, and the
coverage calendar (its cells come from the coverage view's state, now and then)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from lakeledger import Ledger

from tests.serve_fixtures import TOKEN, Server


def html(server: Server, path: str) -> tuple[int, str]:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_runs_and_coverage_as_of_a_past_version(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    with Ledger.open(root) as ledger:
        ledger.declare_dataset("sales", freq="D", start="2025-03-01", end="2025-03-03")
        ledger.observe_partition("sales", "date=2025-03-01", rows=1, bytes=111)
        with ledger.run("train", name="early-run") as early:
            pass
        ledger.flush()
        then = ledger.version
        with ledger.run("train", name="later-run") as later:
            pass
        ledger.observe_partition("sales", "date=2025-03-02", rows=2, bytes=222)
    server = Server(str(root)).start()
    try:
        status, now = html(server, "/runs")
        assert status == 200 and "early-run" in now and "later-run" in now
        status, past = html(server, f"/runs?as_of={then}")
        assert status == 200 and "early-run" in past and "later-run" not in past
        assert html(server, f"/runs/{early.run_id}?as_of={then}")[0] == 200
        assert html(server, f"/runs/{later.run_id}?as_of={then}")[0] == 404  # not there yet
        assert html(server, f"/runs/{later.run_id}")[0] == 200
        status, now = html(server, "/coverage")
        assert status == 200 and "222 bytes" in now and "111 bytes" in now
        status, past = html(server, f"/coverage?as_of={then}")
        assert status == 200 and "111 bytes" in past and "222 bytes" not in past
        assert 'data-label="2025-03-02"' in past  # the day then not observed yet: a gap
    finally:
        assert server.stop() == 0
