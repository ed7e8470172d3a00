"""SIGTERM (what orchestrators send) flushes buffered events, then ends the process the way
the program's own handler, or the default action, would. Real processes, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lakeledger.store import Ledger

TIMEOUT_S = 120

WORKER = """
import signal, sys, time
from lakeledger.store import Ledger
{before}
L = Ledger.open({root!r}, max_buffer_delay_s=3600)  # only the signal can flush
run = L.run("train")
n = 0
{loop}
"""

IDLE = """
for n in range(1000):
    run.log_metric("loss", 1.0, step=n)
print("ready", n + 1, flush=True)
while True:
    time.sleep(1)
"""

BUSY = """
while True:  # the signal lands while the loop is inside the writer, often
    run.log_metric("loss", 1.0, step=n)
    n += 1
    if n % 2000 == 0:
        print("ready", n, flush=True)
"""

INSIDE_IDS = """
from lakeledger.store.ids import new_event_id
for n in range(1000):
    run.log_metric("loss", 1.0, step=n)
print("ready", n + 1, flush=True)
while True:  # the signal lands inside new_event_id, its lock held, nearly every time
    new_event_id()
"""

OWN_HANDLER = """
def handler(signum, frame):
    print("handler ran", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, handler)
"""


def _terminate(root: Path, *, before: str = "", loop: str = IDLE) -> tuple[int, int, str]:
    """Start a worker, wait until it reports metrics added, SIGTERM it; (exit, added, output)."""
    code = WORKER.format(root=str(root), before=before, loop=loop)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), (line, proc.stderr.read() if proc.stderr else "")
        added = int(line.split()[1])
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the worker did not end after SIGTERM")
    assert "Traceback" not in err, err
    return proc.returncode, added, rest


def _steps(root: Path) -> list[int]:
    return sorted(e.step for e in Ledger.open(root).read(kind="run.metric_logged"))  # type: ignore[attr-defined]


def test_sigterm_flushes_then_dies_by_the_signal(tmp_path: Path) -> None:
    root = tmp_path / "l"
    code, added, _ = _terminate(root)
    assert code == -signal.SIGTERM  # as if nobody had handled it
    assert _steps(root) == list(range(added))


def test_sigterm_flushes_then_chains_the_programs_handler(tmp_path: Path) -> None:
    root = tmp_path / "l"
    code, added, out = _terminate(root, before=OWN_HANDLER)
    assert "handler ran" in out
    assert code == 3
    assert _steps(root) == list(range(added))


def test_sigterm_inside_a_busy_logging_loop_loses_nothing_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "l"
    code, added, _ = _terminate(root, loop=BUSY)
    assert code == -signal.SIGTERM
    steps = _steps(root)
    assert len(steps) >= added  # everything acknowledged before the signal was sent...
    assert steps == list(range(len(steps)))  # ...and after it, up to the end: no gap, no copy


def test_sigterm_inside_the_id_generator_does_not_deadlock(tmp_path: Path) -> None:
    """The flush makes ids too: run from inside ``new_event_id`` it waited forever on the lock
    the interrupted call held (a hang seen under load). The signal is now deferred there."""
    root = tmp_path / "l"
    code, added, _ = _terminate(root, loop=INSIDE_IDS)
    assert code == -signal.SIGTERM
    assert _steps(root) == list(range(added))
