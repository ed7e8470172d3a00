"""Forked processes: unique ids, and a clear error instead of a tokio panic.

Real ``os.fork`` in a fresh interpreter per scenario (pytest's own process keeps threads
and runtimes that make forking it unsafe to reason about).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT_S = 120


def _run(code: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process hung (no exit in {TIMEOUT_S}s): {exc.stderr!r}")


SAME_MILLISECOND = """
import os, time
from lakeledger.store.ids import new_event_id
new_event_id()  # the parent used the generator before forking, as a real parent would
duplicates = 0
for trial in range(30):
    start = time.time() + 0.05
    readers = []
    for child in range(4):
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(r)
            while time.time() < start:  # all children call at the same moment
                pass
            ids = [new_event_id() for _ in range(3)]
            os.write(w, " ".join(ids).encode())
            os._exit(0)
        os.close(w)
        readers.append(r)
    made = []
    for r in readers:
        made += os.read(r, 4096).decode().split()
        os.close(r)
    for _ in readers:
        os.wait()
    assert len(made) == 12, made
    duplicates += len(made) - len(set(made))
print(duplicates)
"""


def test_forked_children_never_share_event_ids() -> None:
    done = _run(SAME_MILLISECOND)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 0


FORK_AFTER_USE = """
import os, sys
from lakeledger.store import Ledger, LedgerError, events as ev
L = Ledger.open({root!r})
L.append([ev.MetricLogged(run_id="r", key="k", value=1.0)])
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    outcome = []
    for use in (
        lambda: L.append([ev.MetricLogged(run_id="r", key="k", value=2.0)]),
        lambda: L.emit(ev.MetricLogged(run_id="r", key="k", value=3.0)),
        lambda: L.events().collect(),
        lambda: Ledger.open({root!r}),
    ):
        try:
            use()
            outcome.append("no error")
        except LedgerError as exc:
            outcome.append(type(exc).__name__ + ": " + str(exc))
        except BaseException as exc:
            outcome.append("unclear " + type(exc).__name__ + ": " + str(exc))
    os.write(w, "\\n".join(outcome).encode())
    os._exit(0)
os.close(w)
chunks = []
while chunk := os.read(r, 65536):
    chunks.append(chunk)
os.waitpid(pid, 0)
print(b"".join(chunks).decode())
L.append([ev.MetricLogged(run_id="r", key="k", value=4.0)])  # the parent goes on
print(L.events().collect().height)
"""


def test_a_ledger_used_in_a_child_forked_after_the_parent_used_it_says_use_spawn(
    tmp_path: Path,
) -> None:
    done = _run(FORK_AFTER_USE.format(root=str(tmp_path / "l")))
    assert done.returncode == 0, done.stderr
    *outcomes, parent_rows = done.stdout.strip().splitlines()
    assert len(outcomes) == 4, done.stdout
    for outcome in outcomes:
        assert outcome.startswith("ForkedProcessError"), outcome
        assert "spawn" in outcome and "set_start_method" in outcome
    assert int(parent_rows) == 2  # nothing from the child landed; the parent is unharmed


FORK_BEFORE_USE = """
import os
from lakeledger.store import Ledger, events as ev
pid = os.fork()
if pid == 0:  # the parent never opened a ledger: the child may
    L = Ledger.open({root!r})
    L.append([ev.MetricLogged(run_id="r", key="k", value=1.0)])
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(status)
"""


def test_a_child_forked_before_any_ledger_was_opened_works(tmp_path: Path) -> None:
    root = tmp_path / "l"
    done = _run(FORK_BEFORE_USE.format(root=str(root)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    from lakeledger.store import Ledger

    assert Ledger.open(root).events().collect().height == 1
