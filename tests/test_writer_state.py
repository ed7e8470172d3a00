"""The commit rules' per-writer state (store/writerstate.py) equals the state computed from the
whole log, after any sequence of commits from two writers (issue 15).

Two ``Ledger``s on one root stand for two processes (each has its own ``EventLog``, Delta
snapshot and state); they register versions, move stages, set aliases, append unchecked events,
retry ids already logged and compact, in any interleaving. After each step every writer's state,
brought to the newest version the way a commit would, must equal a state loaded from scratch by a
third, fresh writer: models, newest id, and which ids are present.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.store import ConcurrencyError, InvalidInput, Ledger, LogSettings
from lakeledger.store import events as ev
from lakeledger.store.compaction import compact
from lakeledger.store.log import EventLog, Snapshot
from lakeledger.store.writerstate import WriterState

MODELS = ["a", "b"]
STAGES = ["Staging", "Production", "Archived"]
SETTINGS = LogSettings(auto_maintain=False)

step = st.one_of(
    st.tuples(st.just("register"), st.integers(0, 1), st.sampled_from(MODELS)),
    st.tuples(st.just("stage"), st.integers(0, 1), st.sampled_from(MODELS), st.integers(1, 4),
              st.sampled_from(STAGES)),
    st.tuples(st.just("guarded"), st.integers(0, 1), st.sampled_from(MODELS), st.integers(1, 4),
              st.sampled_from([*STAGES, None])),
    st.tuples(st.just("alias"), st.integers(0, 1), st.sampled_from(MODELS), st.integers(1, 4)),
    st.tuples(st.just("other"), st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("retry"), st.integers(0, 1), st.integers(0, 50)),
    st.tuples(st.just("compact"), st.integers(0, 1)),
)


def _state_at_newest(log: EventLog) -> tuple[int, WriterState]:
    log.refresh()
    snapshot = Snapshot(log)
    state = snapshot.state(MODELS)
    assert state.version == snapshot.next_version - 1
    return state.version, state


def _run(writers: list[Ledger], ids: list[str], op: tuple) -> None:  # type: ignore[type-arg]
    kind, who = op[0], writers[op[1]]
    if kind == "register":
        who.register_model_version(op[2])
    elif kind == "stage":
        who.set_stage(op[2], op[3], op[4])
    elif kind == "guarded":
        who.set_stage(op[2], op[3], "Production", expect=op[4])
    elif kind == "alias":
        who.set_alias(op[2], "champion", op[3])
    elif kind == "other":
        done = who.append([ev.TagSet(run_id="r", key=f"k{i}", value="v") for i in range(op[2])],
                          check_ids=False)
        ids.extend(e.event_id for e in done.events)
    elif kind == "retry" and ids:
        again = who.read(kind="run.tag_set")[op[2] % len(ids)]
        assert who.append([again]).skipped == (again.event_id,)  # type: ignore[union-attr]
    elif kind == "compact":
        compact(who.log, min_files=2)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(step, min_size=1, max_size=14))
def test_incremental_state_equals_state_from_the_whole_log(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as root:
        writers = [Ledger.open(root, settings=SETTINGS), Ledger.open(root, settings=SETTINGS)]
        ids: list[str] = []
        for op in ops:
            # refused by the rules: nothing committed, the states must still agree
            with contextlib.suppress(InvalidInput, ConcurrencyError):
                _run(writers, ids, op)
            fresh_version, fresh = _state_at_newest(EventLog(writers[0].location, SETTINGS))
            unknown = "ffffffff-ffff-7fff-bfff-ffffffffffff"
            for w in writers:
                version, state = _state_at_newest(w.log)
                assert version == fresh_version
                assert {m: state.models[m] for m in MODELS} == {m: fresh.models[m] for m in MODELS}
                assert state.newest_id == fresh.newest_id
                assert state.present([*ids, unknown]) == set(ids)


def test_own_commits_advance_the_state_without_reading_the_log(tmp_path: Path) -> None:
    """A writer alone: each commit's state comes from the previous one plus what it wrote, so
    the snapshot is never reloaded between model calls (the scan per call of issue 15)."""
    ledger = Ledger.open(tmp_path, settings=SETTINGS)
    ledger.register_model_version("m")
    ledger.log.refresh()
    loads = 0
    real = ledger.log.refresh

    def counting():  # type: ignore[no-untyped-def]
        nonlocal loads
        loads += 1
        return real()

    ledger.log.refresh = counting  # type: ignore[method-assign]
    for v in range(2, 6):
        assert ledger.register_model_version("m") == v
        ledger.set_stage("m", v, "Staging")
    assert loads == 0
    assert ledger.log.state.models["m"] == {1: "None", **{v: "Staging" for v in range(2, 6)}}
