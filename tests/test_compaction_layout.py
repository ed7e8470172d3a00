"""Files of the old layout (one row group for hundreds of thousands of rows, as the first
landings wrote them) are rewritten by compaction into bounded row groups, rows unchanged, so an
idempotent retry of an old id decodes one group instead of the whole file (issue 15)."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakeledger.store import Ledger, LogSettings, datafile
from lakeledger.store import events as ev
from lakeledger.store.compaction import compact

ROWS = 20_000


def _groups(root: Path) -> dict[str, tuple[int, int]]:
    """Each data file's (rows, row groups)."""
    metas = {f.name: pq.ParquetFile(f).metadata for f in (root / "events").glob("*.parquet")}
    return {name: (m.num_rows, m.num_row_groups) for name, m in metas.items()}


def test_an_old_layout_file_is_rewritten_with_bounded_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a small target makes the 20k-row file a big one (no longer a candidate for merging)
    ledger = Ledger.open(tmp_path, settings=LogSettings(auto_maintain=False, compact_target_bytes=64 * 1024))
    with monkeypatch.context() as m:
        m.setattr(datafile, "ROW_GROUP_ROWS", 10**9)  # what the first landings wrote
        ledger.append([ev.MetricLogged(run_id="r", key="loss", value=i, step=i) for i in range(ROWS)])
    ledger.append([ev.ValidationRecorded(target="t", check="c", passed=True)])
    old = [name for name, shape in _groups(tmp_path).items() if shape == (ROWS, 1)]
    assert len(old) == 1
    before = ledger.events().collect()
    first = ledger.read(kind="run.metric_logged")[0]

    done = compact(ledger.log)  # one small file only: nothing to merge, so the old one is rewritten
    assert done is not None and done["files_removed"] == 1 and done["rows"] == ROWS
    live = set(pa.table(ledger.log.refresh().get_add_actions(flatten=True)).column("path").to_pylist())
    assert not live & set(old), "the old-layout file is still live"
    rewritten = [p for p in live if p.startswith("part-compact")]
    assert len(rewritten) == 1
    assert _groups(tmp_path)[rewritten[0]] == (ROWS, math.ceil(ROWS / datafile.ROW_GROUP_ROWS))
    assert ledger.events().collect().equals(before), "rewriting changed the rows"
    assert ledger.append([first]).skipped == (first.event_id,), "the old id is still recognised"
    assert compact(ledger.log) is None, "a laid-out log has nothing left to rewrite"
