"""Group commit under real threads and real processes: no hang, no loss, order kept.

Every scenario that hung before runs in its own process with a timeout, so a regression fails
the test instead of hanging the suite; the same scenarios run again beside a CPU hog.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from lakeledger.store import Ledger
from lakeledger.store.buffer import BufferedWriter
from lakeledger.store.events import MetricLogged

TIMEOUT_S = 120


@pytest.fixture(params=["idle", "cpu-hog"])
def load(request: pytest.FixtureRequest) -> Iterator[str]:
    """Nothing, or two busy processes competing for this machine's cores."""
    hogs: list[subprocess.Popen[bytes]] = []
    if request.param == "cpu-hog":
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield request.param
    for hog in hogs:
        hog.kill()
        hog.wait()


def _run(code: str) -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process hung (no exit in {TIMEOUT_S}s): {exc.stderr!r}")
    assert done.returncode == 0, done.stderr
    return done.stdout


THREADS = """
import sys, threading, time
from lakeledger.store import Ledger
L = Ledger.open(sys.argv[1])
run = L.run("train")
counts = [0, 0]
def work(t):
    end = time.monotonic() + 5  # past the 2 s timer, twice
    while time.monotonic() < end:
        run.log_metric(f"m{t}", 1.0, step=counts[t])
        counts[t] += 1
threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
for th in threads: th.start()
for th in threads: th.join()
run.finish()
print(counts[0], counts[1])
"""


def test_two_threads_log_metrics_with_default_settings(tmp_path: Path, load: str) -> None:
    root = tmp_path / "l"
    out = _run(THREADS.replace("sys.argv[1]", repr(str(root))))
    n0, n1 = map(int, out.split())
    metrics = Ledger.open(root).events(kind="run.metric_logged").collect()
    assert metrics.height == n0 + n1 > 0
    for key, n in (("m0", n0), ("m1", n1)):
        steps = metrics.filter(metrics["payload"].str.contains(f'"key":"{key}"'))
        assert steps.height == n  # every metric once, none lost


LOOP = """
import time
from lakeledger.store import Ledger
L = Ledger.open({root!r}, max_buffer_delay_s=0.01)
run = L.run("train")
n = 0
end = time.monotonic() + 4
while time.monotonic() < end:  # the timer flushes while the loop keeps adding
    run.log_metric("loss", 1.0, step=n)
    n += 1
run.finish()
print(n)
"""


def test_one_training_loop_with_a_busy_timer(tmp_path: Path, load: str) -> None:
    root = tmp_path / "l"
    n = int(_run(LOOP.format(root=str(root))))
    assert Ledger.open(root).events(kind="run.metric_logged").collect().height == n


ORDER = """
import time
from lakeledger.store import Ledger, events as ev
L = Ledger.open({root!r}, max_buffer_delay_s=0.002)
for i in range(150):  # the timer races each append for the metric emitted just before it
    L.emit(ev.MetricLogged(run_id="r", key="k", value=1.0, step=i))
    time.sleep(0.004 * (i % 5))  # often the timer has taken it and is committing it now
    L.append([ev.TagSet(run_id="r", key="k", value=str(i))], check_ids=False)
print("ok")
"""


def test_append_lands_after_what_the_same_thread_emitted(tmp_path: Path, load: str) -> None:
    root = tmp_path / "l"
    _run(ORDER.format(root=str(root)))
    events = Ledger.open(root).read()
    position = {}
    for at, e in enumerate(events):
        position[(e.kind, e.step if e.kind == "run.metric_logged" else int(e.value))] = at  # type: ignore[attr-defined]
    for i in range(150):
        assert position[("run.metric_logged", i)] < position[("run.tag_set", i)], i


# -- the writer alone, with a commit function of our own (its contract, not Delta's) --------
class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[MetricLogged]] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[MetricLogged]) -> None:
        with self.lock:
            self.batches.append(list(batch))


def test_writer_commits_every_event_once_in_per_thread_order() -> None:
    recorder = Recorder()
    writer = BufferedWriter(recorder, max_events=37, max_delay_s=0.001)  # type: ignore[arg-type]

    def work(t: int) -> None:
        for i in range(3000):
            writer.add(MetricLogged(run_id=f"t{t}", key="k", value=1.0, step=i))
            if i % 500 == 0:
                writer.flush()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(TIMEOUT_S)
    assert not any(th.is_alive() for th in threads), "a writer thread hung"
    writer.close()
    committed = [e for batch in recorder.batches for e in batch]
    assert len(committed) == 4 * 3000
    for t in range(4):
        assert [e.step for e in committed if e.run_id == f"t{t}"] == list(range(3000))


def test_a_commit_that_flushes_its_own_writer_fails_instead_of_hanging() -> None:
    writer: BufferedWriter

    def commit(batch: Sequence[MetricLogged]) -> None:
        writer.flush()

    writer = BufferedWriter(commit, max_delay_s=0)  # type: ignore[arg-type]
    writer.add(MetricLogged(run_id="r", key="k", value=1.0))
    raised: list[BaseException] = []

    def flush() -> None:
        try:
            writer.flush()
        except RuntimeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=flush, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), "flush deadlocked on itself"
    assert len(raised) == 1 and "re-entered" in str(raised[0])
    assert writer.pending() == 1  # kept for the next flush
