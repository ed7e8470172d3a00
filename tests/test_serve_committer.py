"""Group commit in the server, in process on a real ledger: one commit per tick, each request
answered with its own part, and one request's refusal stays its own."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lakeledger.store import Ledger
from lakeledger.store.errors import ConcurrencyError, InvalidInput, StorageError
from lakeledger.store.events import ModelStageChanged, ModelVersionRegistered, ValidationRecorded

pytest.importorskip("starlette")
from lakeledger.cli.serve.committer import GroupCommitter
from lakeledger.cli.serve.maintainer import MANUAL, Maintainer, passed


class Gated:
    """The real ledger, with the first append held until released: requests pile up meanwhile."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.gate, self.calls = ledger, threading.Event(), 0
        self.log = ledger.log  # the committer makes published ticks durable through it

    def append(self, events: Any, **options: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.gate.wait(60)
        return self.ledger.append(events, **options)


def test_requests_waiting_during_a_commit_share_the_next_one_and_refusals_stay_their_own(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "ledger"))
    ledger.register_model_version("m")
    gated = Gated(ledger)
    committer = GroupCommitter(gated)  # type: ignore[arg-type]

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(committer.submit([ValidationRecorded(target="t", check="0", passed=True)]))
        while gated.calls == 0:
            await asyncio.sleep(0.01)
        waiting = [
            asyncio.ensure_future(committer.submit([ValidationRecorded(target="t", check=str(i), passed=True)]))
            for i in range(1, 6)
        ]
        refused = asyncio.ensure_future(committer.submit(
            [ModelStageChanged(model="m", version=1, stage="Production", previous_stage="Staging")]))
        registered = asyncio.ensure_future(committer.submit([ModelVersionRegistered(model="m")]))
        await asyncio.sleep(0.2)
        gated.gate.set()
        return await asyncio.gather(first, *waiting, refused, registered, return_exceptions=True)

    before = ledger.version
    results = asyncio.run(scenario())
    committer.close()
    first, *rest = results
    waiting, refused, registered = rest[:5], rest[5], rest[6]
    assert isinstance(refused, ConcurrencyError)
    assert registered.events[0].version == 2  # the store assigned the next model version
    assert all(r.version is not None and len(r.events) == 1 for r in waiting)
    # the gated commit, then the combined tick (refused), then each request of it on its own
    assert first.version == before + 1
    assert ledger.events(stream="validation/t").collect().height == 6
    assert ledger.events(kind="model.stage_changed").collect().height == 0


def test_one_commit_for_everything_that_waited(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "ledger"))
    gated = Gated(ledger)
    committer = GroupCommitter(gated)  # type: ignore[arg-type]

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(committer.submit([ValidationRecorded(target="t", check="x", passed=True)]))
        while gated.calls == 0:
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(committer.submit([ValidationRecorded(target="t", check=str(i), passed=True)]))
                for i in range(16)]
        await asyncio.sleep(0.2)
        gated.gate.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(scenario())
    committer.close()
    assert committer.commits == 2 and gated.calls == 2
    assert len({r.version for r in results[1:]}) == 1  # sixteen requests, one commit
    assert ledger.events(stream="validation/t").collect().height == 17


class UnsyncableLog:
    """The real log, whose directory fsync fails (a disk error after the commit was published)."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def sync(self) -> None:
        raise OSError(5, "Input/output error")


def test_no_request_is_acknowledged_when_its_commit_cannot_be_made_durable(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "ledger"))
    gated = Gated(ledger)
    gated.gate.set()
    gated.log = UnsyncableLog(ledger.log)
    committer = GroupCommitter(gated)  # type: ignore[arg-type]

    async def scenario() -> list[Any]:
        batch = [committer.submit([ValidationRecorded(target="t", check=str(i), passed=True)]) for i in range(8)]
        return await asyncio.gather(*batch, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    committer.close()
    assert all(isinstance(o, StorageError) and "fsync failed" in str(o) for o in outcomes), outcomes


def test_pipelined_ticks_answer_every_request_once_in_commit_order(tmp_path: Path) -> None:
    """Many small ticks in a row (the next published while the previous one is made durable):
    every request gets its own events back, versions grow with the ticks, nothing is lost."""
    ledger = Ledger.open(str(tmp_path / "ledger"))
    committer = GroupCommitter(ledger)

    async def client(c: int) -> list[Any]:
        return [await committer.submit([ValidationRecorded(target="t", check=f"{c}.{i}", passed=True)])
                for i in range(15)]

    async def scenario() -> list[list[Any]]:
        return await asyncio.gather(*(client(c) for c in range(6)))

    per_client = asyncio.run(scenario())
    committer.close()
    for receipts in per_client:
        versions = [r.version for r in receipts]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)  # one client: in order
        assert all(len(r.events) == 1 and not r.skipped for r in receipts)
    ids = [r.events[0].event_id for receipts in per_client for r in receipts]
    stored = ledger.events(stream="validation/t").collect()["event_id"].to_list()
    assert sorted(stored) == sorted(ids) and len(stored) == 90


def test_maintenance_never_holds_up_an_acknowledgement(tmp_path: Path) -> None:
    """The writer does no maintenance itself; while the maintainer's task is stuck (held here),
    commits go on being made and answered, and the versions that arrived meanwhile are handled
    in one coalesced run afterwards."""
    root = str(tmp_path / "ledger")
    Ledger.open(root)
    writer = Ledger.open(root, settings=MANUAL)
    held, seen = threading.Event(), []

    def task(event_log: Any, done: int, newest: int) -> None:
        seen.append((done, newest))
        held.wait(60)

    maintainer = Maintainer(writer.log, task)
    committer = GroupCommitter(writer, maintainer.committed)

    async def scenario() -> list[Any]:
        return [await committer.submit([ValidationRecorded(target="m", check=str(i), passed=True)])
                for i in range(5)]

    receipts = asyncio.run(scenario())  # answered although the first task never returns
    first, last = receipts[0].version, receipts[-1].version
    assert [r.version for r in receipts] == list(range(first, first + 5))
    committer.close()  # every commit has been handed to the maintainer by now
    assert len(seen) == 1 and seen[0][0] == -1 and first <= seen[0][1] <= last  # it woke at some commit
    held.set()
    reached = seen[0][1]
    deadline = time.monotonic() + 60
    while reached < last and maintainer.runs < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    maintainer.close()
    assert seen == [(-1, reached)] + ([(reached, last)] if reached < last else [])  # the rest: one run


def test_the_maintainer_checkpoints_and_compacts_as_the_writer_would_have(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    writer = Ledger.open(root, settings=MANUAL)
    maintainer = Maintainer.for_root(root, {}, writer.version)
    committer = GroupCommitter(writer, maintainer.committed)

    async def scenario() -> None:
        for i in range(60):
            await committer.submit([ValidationRecorded(target="m", check=str(i), passed=True)])

    asyncio.run(scenario())
    committer.close()
    maintainer.close()  # the run under way finishes
    files = writer.log.files
    assert writer.version >= 60 and files.last_checkpoint() >= 10  # 60 appends (+ a compaction's commit)
    maintainer = Maintainer.for_root(root, {}, 0)  # the whole range again, in one run
    maintainer.committed(writer.version)
    while maintainer.runs == 0:
        threading.Event().wait(0.05)
    maintainer.close()
    assert files.last_checkpoint() >= 60
    assert len(writer.log.refresh().file_uris()) < 60  # compacted (version 50 passed)
    assert Ledger.open(root, create=False).events(stream="validation/m").collect().height == 60


@given(lo=st.integers(-1, 500), span=st.integers(0, 500), every=st.integers(1, 120), offset=st.integers(0, 119))
def test_passed_is_the_newest_cadence_point_in_the_range(lo: int, span: int, every: int, offset: int) -> None:
    hi = lo + span
    due = [v for v in range(lo + 1, hi + 1) if v % every == offset % every]
    assert passed(lo, hi, every, offset) == (max(due) if due else None)


def test_an_inadmissible_request_is_refused_at_its_line_and_the_rest_of_the_tick_commits_together(
    tmp_path: Path,
) -> None:
    ledger = Ledger.open(str(tmp_path / "ledger"))
    gated = Gated(ledger)
    committer = GroupCommitter(gated)  # type: ignore[arg-type]
    ok = [ValidationRecorded(target="t", check="ok", passed=True)]
    bad = [ValidationRecorded(target="t", check="a", passed=True),
           ValidationRecorded(target="\n", check="b", passed=True)]  # no stream can be named so

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(committer.submit(ok))
        while gated.calls == 0:
            await asyncio.sleep(0.01)
        tick = [asyncio.ensure_future(committer.submit(
                    bad, wheres=["body:1", "body:2"])),
                *(asyncio.ensure_future(committer.submit(
                    [ValidationRecorded(target="t", check=str(i), passed=True)])) for i in range(3))]
        await asyncio.sleep(0.2)
        gated.gate.set()
        return await asyncio.gather(first, *tick, return_exceptions=True)

    _, refused, *rest = asyncio.run(scenario())
    committer.close()
    assert isinstance(refused, InvalidInput) and str(refused).startswith("body:2: ")
    assert "target" in str(refused)
    assert len({r.version for r in rest}) == 1 and gated.calls == 3  # gated, refused tick, the rest
    assert ledger.events(stream="validation/t").collect().height == 4  # nothing of the refused one
