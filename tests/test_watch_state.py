"""The invariant behind restarts: after any history of file changes and watcher runs, the
ledger's live partitions are exactly the files on disk (path and checksum), and one more run
adds nothing. Runs the Watcher in-process (``run(once=True)``) on a real local ledger, and
the real command against an S3 ledger (moto) for the remote case."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.ingest.watch.watcher import Watcher, WatchOptions
from lakeledger.store import Ledger

from .conftest import Backend
from .watch_fixtures import parquet_bytes, sales, sha, write_parquet

Op = tuple[str, int, int]  # (write|delete|corrupt|run, file index, content seed)
ops = st.lists(
    st.tuples(st.sampled_from(["write", "write", "delete", "corrupt", "run"]),
              st.integers(0, 4), st.integers(0, 3)),
    min_size=1, max_size=12,
)


def live_in_ledger(ledger: Ledger, dataset: str) -> dict[str, str]:
    live: dict[str, str] = {}
    kinds = ["partition.observed", "partition.removed"]
    for e in ledger.read(kind=kinds, stream=f"dataset/{dataset}"):
        data = msgspec.structs.asdict(e)  # type: ignore[arg-type]
        if e.kind == "partition.observed":
            live[data["uri"]] = data["checksum"]
        else:
            live.pop(data["uri"], None)
    return live


def run_once(ledger: Ledger, land: Path) -> None:
    Watcher(ledger, str(land), WatchOptions(dataset="d", debounce_s=0, grace_s=0)).run(once=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_ledger_live_state_equals_disk_after_any_history(history: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        land = Path(tmp) / "land"
        land.mkdir()
        with Ledger.open(Path(tmp) / "ledger") as ledger:
            disk: dict[str, str] = {}
            bad: set[str] = set()
            for op, index, seed in [*history, ("run", 0, 0)]:
                path = land / f"date=2025-01-0{index + 1}" / "part.parquet"
                if op == "write":
                    disk[str(path)] = sha(write_parquet(path, sales(2, seed=seed)))
                    bad.discard(str(path))
                elif op == "corrupt":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"garbage %d" % seed)
                    disk.pop(str(path), None)
                    bad.add(str(path))
                elif op == "delete" and path.exists():
                    path.unlink()
                    disk.pop(str(path), None)
                    bad.discard(str(path))
                else:
                    run_once(ledger, land)
                    assert live_in_ledger(ledger, "d") == disk
            before = ledger.version
            run_once(ledger, land)  # idempotent: nothing new to say
            assert ledger.version == before
            reported = [msgspec.structs.asdict(p)["details"]  # type: ignore[arg-type]
                        for p in ledger.read(kind="validation.recorded")]
            keys = {(d["uri"], d["checksum"]) for d in reported}
            assert len(keys) == len(reported)  # a problem is reported once per content
            for path in bad:  # every unreadable file on disk is reported, as it is now
                assert (path, sha(Path(path).read_bytes())) in keys


@pytest.mark.s3
def test_watch_into_an_s3_ledger(moto_endpoint: str, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from .conftest import s3_backend

    backend: Backend = s3_backend(moto_endpoint)
    land = tmp_path / "land"
    for d in (1, 2, 3):
        write_parquet(land / f"date=2025-03-0{d}" / "part-0.parquet", sales(d))
    args = [*backend.cli_args(), "watch", str(land), "--dataset", "s3d", "--once",
            "--debounce-ms", "0"]
    first = cli(*args)
    assert first.code == 0, first.err
    (land / "date=2025-03-02" / "part-0.parquet").unlink()
    (land / "date=2025-03-04").mkdir()
    (land / "date=2025-03-04" / "part-0.parquet").write_bytes(parquet_bytes(sales(4)))
    second = cli(*args)
    assert second.code == 0, second.err
    ledger = backend.open(create=False)
    kinds = [e.kind for e in ledger.read(stream="dataset/s3d")]
    assert kinds.count("partition.observed") == 4 and kinds.count("partition.removed") == 1
    assert len(live_in_ledger(ledger, "s3d")) == 3
