"""Group commit in the server, in process on a real ledger: one commit per tick, each request
answered with its own part, and one request's refusal stays its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from lakeledger.store import Ledger
from lakeledger.store.errors import ConcurrencyError
from lakeledger.store.events import ModelStageChanged, ModelVersionRegistered, ValidationRecorded

pytest.importorskip("starlette")
from lakeledger.cli.serve.committer import GroupCommitter


class Gated:
    """The real ledger, with the first append held until released: requests pile up meanwhile."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.gate, self.calls = ledger, threading.Event(), 0

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
