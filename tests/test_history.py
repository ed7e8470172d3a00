"""``history`` from the commit files (no data library) says exactly what the rows say.

``store.history.newest`` answers from the newest ``_delta_log`` json; ``Ledger.history`` is the
definition (every row, grouped by version). Wherever the files can tell, both agree to the
byte; where they cannot (json cleaned up behind a checkpoint, a commit without a summary, a
damaged file), ``newest`` says None and the CLI reads the rows. Local and on S3.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.store import LogSettings
from lakeledger.store import events as ev
from lakeledger.store.datafile import SEQ_APP_ID
from lakeledger.store.deltalog import LogFiles
from lakeledger.store.history import newest
from lakeledger.store.ids import new_event_id
from lakeledger.store.ledger import Ledger

from .conftest import Backend


def _json(rows: Any) -> str:
    """The CLI's JSON of history rows (key order included)."""
    return msgspec.json.encode(rows).decode()


def _expected(ledger: Ledger, limit: int | None) -> str:
    return _json(ledger.history(limit).to_dicts())


def _mixed(ledger: Ledger, n: int) -> None:
    for i in range(n):
        batch: list[ev.Event] = [ev.RunStarted(run_id=f"r{i}", job="train")]
        batch += [ev.MetricLogged(run_id=f"r{i}", key="auc", value=i / n, step=s) for s in range(i % 3)]
        if i % 4 == 0:
            batch.append(ev.ExperimentCreated(experiment=f"e{i}"))
        ledger.append(batch)


def test_the_commit_files_give_the_rows_history(backend: Backend) -> None:
    ledger = backend.open()
    assert newest(ledger.location, None) == [] == ledger.history().to_dicts()  # no commits yet
    _mixed(ledger, 6)
    ledger.register_model_version("fraud")
    ledger.set_stage("fraud", 1, "Staging")
    for limit in (1, 3, None):
        fast = newest(ledger.location, limit)
        assert fast is not None, limit  # answered from the files, not the rows
        assert _json(fast) == _expected(ledger, limit)
    assert newest(ledger.location, 1)[0]["kinds"] == ["model.stage_changed"]


def test_checkpoints_compaction_and_log_cleanup_keep_the_answer(backend: Backend) -> None:
    settings = LogSettings(checkpoint_interval=5, compact_every=4, keep_log_versions=5, vacuum_every=7)
    ledger = backend.open(settings=settings)
    _mixed(ledger, 24 if backend.name == "local" else 14)
    ledger.log.maintainer.wait(120)  # checkpoints and cleanup run after the appends returned
    # compaction commits wrote no events: they are skipped, not listed
    listing = LogFiles(ledger.location.join("events"), ledger.location.options).listing()
    assert listing is not None and listing.checkpoint > 0
    event_versions = sorted(ledger.history()["version"].to_list(), reverse=True)
    for limit in (1, 2, 5):
        fast = newest(ledger.location, limit)
        if fast is None:
            # the files may not tell only when cleanup removed a json the answer needs (where the
            # checkpoints and compactions landed depends on timing: maintenance runs after return)
            assert limit > 1 and not set(event_versions[:limit]) <= set(listing.versions), limit
        else:
            assert _json(fast) == _expected(ledger, limit), limit
    # once the first commits' json is gone behind a checkpoint, the files cannot tell all of it
    cleaned = listing.versions[0] > 0
    assert cleaned or backend.name == "s3"  # locally, 24 commits with these settings clean up
    full = newest(ledger.location, None)
    assert full is None if cleaned else _json(full) == _expected(ledger, None)
    assert ledger.history()["version"].min() == 1


def test_a_commit_without_summary_is_read_from_the_rows(tmp_path: Path, cli: Any) -> None:
    """A commit of an older lakeledger (no summary in its commitInfo) or of a foreign writer:
    ``newest`` cannot tell, and the CLI's history is still the rows' history."""
    from lakeledger.store import codec, datafile
    from lakeledger.store.identity import Writer

    root = str(tmp_path / "ledger")
    ledger = Ledger.open(root)
    _mixed(ledger, 2)
    log = ledger.log
    version = log.version() + 1
    events = [ev.ExperimentCreated(experiment="old")]
    data = codec.encode(events, version=version, recorded_at=ledger.history()["recorded_at"][0],
                        writer=Writer.current(), batch_id=new_event_id())
    add = datafile.write(log.files, data)
    log.files.commit(log.table, version, [add], app_id=SEQ_APP_ID, schema=codec.SCHEMA,
                     metadata={"lakeledger.batch": "b", "lakeledger.events": "1"})
    assert newest(ledger.location, 1) is None
    res = cli("--root", root, "history", "--json")
    assert res.code == 0, res.err
    assert res.out.strip() == _json(json.loads(_expected(Ledger.open(root, create=False), None)))


def test_the_cli_prints_the_same_history_both_ways(tmp_path: Path, cli: Any) -> None:
    root = str(tmp_path / "ledger")
    ledger = Ledger.open(root)
    _mixed(ledger, 5)
    expected_json = _expected(ledger, 2)
    res = cli("--root", root, "history", "--limit", "2", "--json")
    assert res.code == 0 and res.out.strip() == expected_json
    table = cli("--root", root, "history", "--limit", "2").out
    # the same rows through the table (the rows' way: force it by hiding the summaries)
    for name in os.listdir(Path(root, "events", "_delta_log")):
        if name.endswith(".json"):
            path = Path(root, "events", "_delta_log", name)
            path.write_text(path.read_text().replace('"lakeledger.commit"', '"lakeledger.x"'))
    assert newest(ledger.location, 2) is None
    assert cli("--root", root, "history", "--limit", "2").out == table
    assert cli("--root", root, "history", "--limit", "2", "--json").out.strip() == expected_json


def test_no_ledger_and_a_damaged_commit_are_told_as_before(tmp_path: Path, cli: Any) -> None:
    missing = cli("--root", str(tmp_path / "nothing"), "history")
    assert missing.code != 0 and "lakeledger init" in missing.err
    root = str(tmp_path / "ledger")
    _mixed(Ledger.open(root), 2)
    Path(root, "events", "_delta_log", f"{3:020d}.json").write_bytes(b"")  # crash before fsync
    assert newest(Ledger.open(root, create=False).location, 1) is None
    damaged = cli("--root", root, "history", "--limit", "1")
    assert damaged.code == 1 and "is empty" in damaged.err and "Traceback" not in damaged.err


_KINDS = st.sampled_from(["run", "metric", "experiment", "model"])


def _event(kind: str, i: int) -> ev.Event:
    if kind == "run":
        return ev.RunStarted(run_id=f"r{i}", job="j")
    if kind == "metric":
        return ev.MetricLogged(run_id="r", key="k", value=float(i), step=i)
    if kind == "experiment":
        return ev.ExperimentCreated(experiment=f"e{i}")
    return ev.ValidationRecorded(target="t", check=f"c{i}", passed=True)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(st.lists(_KINDS, min_size=1, max_size=4), st.just("compact"),
                              st.just("checkpoint")), min_size=1, max_size=12))
def test_any_history_from_the_files_is_the_rows_history(tmp_path_factory: Any, ops: list[Any]) -> None:
    """Whatever mix of appends, compactions and checkpoints: the files' answer is the rows'
    answer for every limit, or none at all."""
    from lakeledger.store import compaction, maintenance

    settings_ = LogSettings(checkpoint_interval=3, keep_log_versions=3, auto_maintain=False)
    ledger = Ledger.open(str(tmp_path_factory.mktemp("h") / "ledger"), settings=settings_)
    for n, op in enumerate(ops):
        if op == "compact":
            compaction.compact(ledger.log)
        elif op == "checkpoint":
            maintenance.checkpoint(ledger.log, ledger.log.version())
            maintenance.cleanup_log(ledger.log, maintenance.last_checkpoint(ledger.log))
        else:
            ledger.append([_event(kind, n * 10 + j) for j, kind in enumerate(op)])
    for limit in (1, 2, 5, None):
        fast = newest(ledger.location, limit)
        assert fast is None or _json(fast) == _expected(ledger, limit), (limit, ops)
    if ops[-1] not in ("compact", "checkpoint"):
        assert newest(ledger.location, 1) is not None  # the newest commit always tells
