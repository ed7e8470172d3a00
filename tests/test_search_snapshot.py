"""The stored search index (``engine/snapshot.py``) answers exactly as the in-memory one, and
is never served once the events moved on (nor for another ledger made at the same root)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger import Ledger
from lakeledger.projections import api
from lakeledger.projections.engine import snapshot
from lakeledger.projections.engine.state import Context
from lakeledger.projections.views.runs_search import SearchIndex, search_runs

from tests.test_search import T0, _state_of, filters, run_strategy

FRAMES = ["rows", "keys", "metrics", "params", "tags"]
_versions = itertools.count(1)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    return Ledger.open(tmp_path_factory.mktemp("snap") / "l")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(run_strategy, min_size=1, max_size=12),
    flt=filters(),
    order=st.sampled_from([None, "metrics.auc DESC", "params.opt", "tags.team DESC", "name"]),
    limit=st.sampled_from([None, 0, 3]),
    columns=st.sampled_from([None, "run_id,metrics.auc,params.lr", "run_id,params,status"]),
)
def test_stored_index_answers_as_the_state(
    ledger: Ledger, runs: list[dict], flt: tuple[str, object], order: str | None,
    limit: int | None, columns: str | None,
) -> None:
    state, _ = _state_of(runs)
    ctx = Context(now=T0 + timedelta(hours=1))
    through = next(_versions)
    assert snapshot.write(ledger, "runs", through, SearchIndex.of(state).frames())
    frames = snapshot.read(ledger, "runs", through, FRAMES)
    assert frames is not None
    stored = SearchIndex.from_frames(frames)
    options = {"order_by": order, "limit": limit, "columns": columns}
    want = search_runs(state, ctx, flt[0], **options)
    got = search_runs(stored, ctx, flt[0], **options)
    assert got.equals(want), flt[0]
    assert snapshot.read(ledger, "runs", through + 1, FRAMES) is None  # only that version


def _runs(ledger: Ledger, n: int, auc: float) -> list[str]:
    ids = []
    for _ in range(n):
        with ledger.run("train", experiment="e", params={"lr": 0.05}) as run:
            run.log_metric("auc", auc)
        ids.append(run.run_id)
    return ids


FRESH = """
import json, sys
from lakeledger import Ledger
found = Ledger.open(sys.argv[1]).search_runs(sys.argv[2], order_by="metrics.auc DESC")
print(json.dumps(found["run_id"].to_list()))
"""


def _here(ledger: Ledger, text: str) -> list[str]:
    return ledger.search_runs(text, order_by="metrics.auc DESC")["run_id"].to_list()


def _fresh(root: Path, text: str) -> list[str]:
    import json

    out = subprocess.run([sys.executable, "-c", FRESH, str(root), text], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_a_stale_index_is_never_served(tmp_path: Path) -> None:
    root = tmp_path / "l"
    ledger = Ledger.open(root)
    first = _runs(ledger, 3, 0.9)
    assert _here(ledger, "metrics.auc > 0.5") == first
    folder = root / "views" / "runs.search"
    stored = sorted(p.name for p in folder.iterdir())
    assert any(n.endswith(".ready") for n in stored)
    assert _fresh(root, "metrics.auc > 0.5") == first  # a fresh process reads it

    later = _runs(ledger, 2, 0.95)  # the events move on: the stored index is for an older version
    assert _fresh(root, "metrics.auc > 0.5") == later + first
    assert _here(ledger, "metrics.auc > 0.5") == later + first
    ledger.delete_run(first[0])
    assert _fresh(root, "metrics.auc > 0.5") == later + first[1:]
    assert _here(ledger, "metrics.auc > 0.5") == later + first[1:]
    readies = [p for p in folder.iterdir() if p.name.endswith(".ready")]
    assert len(readies) == 1  # older ones removed


def test_an_unreadable_or_foreign_index_is_a_miss(tmp_path: Path) -> None:
    root = tmp_path / "l"
    ledger = Ledger.open(root)
    ids = _runs(ledger, 2, 0.9)
    assert _fresh(root, "metrics.auc > 0.5") == ids
    folder = root / "views" / "runs.search"
    for f in folder.glob("*.rows.arrow"):
        f.write_bytes(b"not arrow")  # damaged: the search falls back to the view's state
    api._INDEXES.clear()
    assert _here(ledger, "metrics.auc > 0.5") == ids
    assert _fresh(root, "metrics.auc > 0.5") == ids

    # another ledger made at the same root, same versions, other runs: the old index is not its
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    import shutil

    shutil.rmtree(root)
    other = Ledger.open(root)
    mine = _runs(other, 2, 0.8)
    assert other.version == ledger.version
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in saved.items():
        (folder / name).write_bytes(body)
    api._INDEXES.clear()
    assert _fresh(root, "metrics.auc > 0.5") == mine
    assert _here(other, "metrics.auc > 0.5") == mine


def test_stored_index_on_every_backend(backend) -> None:  # type: ignore[no-untyped-def]
    """Written and read back through fsspec on S3 too (fetched whole there, not mapped)."""
    from lakeledger.projections.engine import materialise
    from lakeledger.store.storage import filesystem

    ledger = backend.open()
    ids = _runs(ledger, 3, 0.9)
    want = _here(ledger, "metrics.auc > 0.5")
    assert sorted(want) == sorted(ids)
    through = materialise.load(ledger, "runs")[1]
    fs, path = filesystem(ledger.location, snapshot.folder(ledger, "runs"))
    assert fs.exists(f"{path}/{through}.ready")
    api._INDEXES.clear()
    frames = snapshot.read(ledger, "runs", through, FRAMES)
    assert frames is not None
    assert _here(ledger, "metrics.auc > 0.5") == want
    assert _here(ledger, "params.lr = '0.05' and metrics.auc > 0.95") == []
