"""Background maintenance yields to the appender between its steps (issue 15: the slow appends,
4-15x p50, were those sharing the GIL with a checkpoint, log cleanup or compaction), and still
does all of its work while appends go on.

No timing is asserted: an append is held open by its own ``prepare`` (a real commit, blocked on
an event), and the order of what happened is checked.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lakeledger.store import Ledger, LogSettings
from lakeledger.store import events as ev


def _event(i: int) -> ev.ValidationRecorded:
    return ev.ValidationRecorded(target="t", check=f"c{i}", passed=True)


def test_a_step_waits_for_the_append_under_way(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, settings=LogSettings(auto_maintain=False))
    log = ledger.log
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_prepare(snapshot: object) -> list[ev.Event]:
        inside.set()
        assert release.wait(60)
        order.append("append done")
        return [_event(0)]

    appender = threading.Thread(target=lambda: log.commit(slow_prepare))
    appender.start()
    assert inside.wait(60)

    def step() -> None:
        log.yield_to_appends(timeout=120)
        order.append("step")

    stepper = threading.Thread(target=step)
    stepper.start()
    stepper.join(0.2)  # not a timing assertion: the step may only run once the append ended
    assert order == []
    release.set()
    appender.join(60)
    stepper.join(60)
    assert order == ["append done", "step"]
    assert ledger.read(kind="validation.recorded")


def test_without_an_append_under_way_a_step_does_not_wait(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, settings=LogSettings(auto_maintain=False))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (ledger.log.yield_to_appends(timeout=3600), done.set()))
    worker.start()
    worker.join(60)
    assert done.is_set(), "a step waited although nothing was being appended"


def test_paced_maintenance_checkpoints_compacts_and_cleans_up_beside_appends(tmp_path: Path) -> None:
    """Appends back to back, maintenance on its cadence in the background: every checkpoint
    and compaction it owes lands, the log stays bounded, and every event is there once."""
    settings = LogSettings(checkpoint_interval=5, compact_every=10, keep_log_versions=10, vacuum_every=10**6)
    ledger = Ledger.open(tmp_path, settings=settings)
    ids = []
    for i in range(120):
        ids.append(ledger.append([_event(i)]).events[0].event_id)
    assert ledger.log.maintainer.wait(300)
    log_dir = tmp_path / "events" / "_delta_log"
    assert ledger.log.files.last_checkpoint() >= 115
    assert len(list(log_dir.glob("*.json"))) <= 3 * settings.keep_log_versions, "log cleanup fell behind"
    assert list((tmp_path / "events").glob("part-compact*.parquet")), "no compaction landed"
    assert sorted(ledger.events().collect()["event_id"].to_list()) == sorted(ids)
