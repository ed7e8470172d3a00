"""SIGKILL a real writer in the middle of its flushes: every acknowledged flush is in the
log, nothing is there twice, and the ledger keeps working."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakeledger.store import Ledger
from lakeledger.store import events as ev

REPO = Path(__file__).resolve().parents[1]


def test_sigkill_during_flushes_loses_no_acknowledged_event(tmp_path: Path) -> None:
    root, ack = str(tmp_path / "ledger"), tmp_path / "acked.txt"
    Ledger.open(root)
    for delay in (1.5, 0.7, 1.1):  # kill at different points of the commit cycle
        before = _acked_lines(ack)
        proc = subprocess.Popen([sys.executable, "-m", "tests.workers", "flush", root, str(ack)],
                                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        # the delay counts from this writer's first acknowledged flush: on a loaded machine
        # starting Python and the libraries alone can take seconds
        deadline = time.monotonic() + 120
        while _acked_lines(ack) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
    acked = [line for line in ack.read_text().splitlines() if line]
    assert len(acked) >= 100, "the writer should have acknowledged several flushes"
    ledger = Ledger.open(root)
    rows = ledger.log.scan(dedupe=False).collect()
    ids = rows["event_id"].to_list()
    assert len(ids) == len(set(ids)), "an event was committed twice"
    assert set(acked) <= set(ids), "an acknowledged event is missing"
    assert len(ids) - len(acked) <= 3 * 50, "at most one unacknowledged batch per kill"
    ledger.append([ev.ExperimentCreated(experiment="after-crash")])  # still writable
    assert ledger.events(kind="experiment.created").collect().height == 1


def _acked_lines(ack: Path) -> int:
    return len(ack.read_text().splitlines()) if ack.exists() else 0
