"""The storage contract every Delta writer of lakeledger keeps, local and on S3.

One abstract suite, subclassed per writer (event log, bronze, quarantine, materialised views,
stage outputs): a commit lands at exactly the next version and says which; a retried write
changes nothing; a commit at a version someone else took fails with ``CommitConflict`` and
leaves the table as it was. Every writer reaches Delta only through ``store/delta.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from lakeledger.ingest.extract.bronze import Bronze
from lakeledger.ingest.extract.quarantine import APP_PREFIX, Quarantine
from lakeledger.ingest.extract.records import RAW, REASON, ROW
from lakeledger.ingest.stages import io as stage_io
from lakeledger.projections.engine import materialise
from lakeledger.store import Ledger
from lakeledger.store import events as ev
from lakeledger.store.delta import AlreadyCommitted, CommitConflict, TablePath
from lakeledger.store.errors import ConcurrencyError

from .conftest import Backend

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class StorageContract:
    """Subclasses name the table and perform their writer's real write."""

    def uri(self, ledger: Ledger) -> str:
        raise NotImplementedError

    def write(self, ledger: Ledger, key: int) -> int:
        """Do the writer's write number ``key``; return the version it reported."""
        raise NotImplementedError

    def retry(self, ledger: Ledger, key: int) -> None:
        """Repeat write ``key`` exactly as a retrying caller would (must change nothing)."""
        raise NotImplementedError

    def rows(self, ledger: Ledger) -> int:
        return pl.scan_delta(self.uri(ledger), storage_options=ledger.location.options).collect().height

    def files(self, ledger: Ledger) -> TablePath:
        return TablePath(self.uri(ledger), ledger.location.options, ledger.location.redact)

    # -- the contract ----------------------------------------------------------------------
    def test_commit_lands_at_exactly_the_next_version(self, backend: Backend) -> None:
        ledger = backend.open()
        first = self.write(ledger, 1)
        second = self.write(ledger, 2)
        assert second == first + 1
        assert self.files(ledger).load().version() == second

    def test_a_retried_write_changes_nothing(self, backend: Backend) -> None:
        ledger = backend.open()
        self.write(ledger, 1)
        version, rows = self.files(ledger).load().version(), self.rows(ledger)
        self.retry(ledger, 1)
        assert self.files(ledger).load().version() == version
        assert self.rows(ledger) == rows

    def test_a_commit_at_a_taken_version_is_a_typed_conflict(self, backend: Backend) -> None:
        ledger = backend.open()
        self.write(ledger, 1)
        files = self.files(ledger)
        table = files.load()
        version, rows = table.version(), self.rows(ledger)
        sample = pl.scan_delta(self.uri(ledger), storage_options=ledger.location.options).head(1).collect()
        with pytest.raises(CommitConflict):
            files.write(sample, at_version=version)  # taken by the write above
        assert files.load().version() == version and self.rows(ledger) == rows


class TestEventLog(StorageContract):
    def uri(self, ledger: Ledger) -> str:
        return ledger.log.uri

    def _events(self, key: int) -> list[ev.Event]:
        return [ev.ValidationRecorded(target="t", check=f"c{key}-{i}", passed=True,
                                      event_id=f"contract-{key}-{i}") for i in range(3)]

    def write(self, ledger: Ledger, key: int) -> int:
        version = ledger.append(self._events(key)).version
        assert version is not None
        return version

    def retry(self, ledger: Ledger, key: int) -> None:
        assert ledger.append(self._events(key)).version is None  # every id already there

    def test_a_commit_at_a_taken_version_is_a_typed_conflict(self, backend: Backend) -> None:
        from lakeledger.store import codec, datafile
        from lakeledger.store.identity import Writer

        ledger = backend.open()
        taken = self.write(ledger, 1)
        log = ledger.log
        data = codec.encode(self._events(2), version=taken, recorded_at=NOW, writer=Writer.current(),
                            batch_id="contract")
        add = datafile.write(log.files, data)
        with pytest.raises(CommitConflict):
            log.files.commit(log.files.load(taken - 1), taken, [add], app_id=datafile.SEQ_APP_ID,
                             schema=codec.SCHEMA, metadata={})
        assert ledger.version == taken and self.rows(ledger) == 3


class TestBronze(StorageContract):
    def bronze(self, ledger: Ledger) -> Bronze:
        return Bronze(ledger.location, "sales", ["ingest_date"])

    def uri(self, ledger: Ledger) -> str:
        return self.bronze(ledger).uri

    def _frame(self, ledger: Ledger, key: int) -> pl.DataFrame:
        frame = pl.DataFrame({"id": [key * 10 + i for i in range(4)], "amount": [1.5] * 4})
        return self.bronze(ledger).prepare(frame, run_id="r1", batch=key, at=NOW)

    def write(self, ledger: Ledger, key: int) -> int:
        return self.bronze(ledger).write([self._frame(ledger, key)], batch=key, cursor={"k": key},
                                         run_id="r1").version

    def retry(self, ledger: Ledger, key: int) -> None:
        with pytest.raises(ConcurrencyError, match="already holds batch"):
            self.write(ledger, key)
        assert self.bronze(ledger).committed_batch() == key


class TestQuarantine(StorageContract):
    def uri(self, ledger: Ledger) -> str:
        return Quarantine(ledger.location).uri

    def _bad(self, key: int) -> pl.DataFrame:
        return pl.DataFrame({REASON: ["id: not an int"] * 2, RAW: [f'{{"id":"x{key}{i}"}}' for i in range(2)],
                             ROW: [1, 2]})

    def write(self, ledger: Ledger, key: int) -> int:
        Quarantine(ledger.location).write(self._bad(key), source="sales", batch=key, run_id="r1", at=NOW)
        assert Quarantine(ledger.location).committed_batch("sales") == key
        return self.files(ledger).load().version()

    def retry(self, ledger: Ledger, key: int) -> None:
        # a resumed run asks the table which batch landed; the door refuses a second commit
        assert Quarantine(ledger.location).committed_batch("sales") >= key
        with pytest.raises(AlreadyCommitted):
            self.files(ledger).write(self._bad(key), app_id=APP_PREFIX + "sales", txn_version=key)


class TestViews(StorageContract):
    def uri(self, ledger: Ledger) -> str:
        return materialise.table_uri(ledger, "runs")

    def write(self, ledger: Ledger, key: int) -> int:
        ledger.append([ev.RunStarted(run_id=f"run{key}", job="train")])
        materialise.refresh(ledger, ["runs"])
        return self.files(ledger).load().version()

    def retry(self, ledger: Ledger, key: int) -> None:
        refreshed = materialise.refresh(ledger, ["runs"])  # nothing new: nothing written
        assert refreshed[0].events == 0


class TestStageOutputs(StorageContract):
    def uri(self, ledger: Ledger) -> str:
        return ledger.location.join("silver", "features")

    def _frame(self, key: int) -> pl.DataFrame:
        return pl.DataFrame({"id": [1, 2, 3], "score": [0.1 * key] * 3})

    def write(self, ledger: Ledger, key: int) -> int:
        written = stage_io.write(ledger, "features", "silver/features", self._frame(key), "delta")
        assert written.delta_version is not None
        return written.delta_version

    def retry(self, ledger: Ledger, key: int) -> None:
        # a stage run again on the same inputs is skipped as fresh; a forced re-run replaces
        # the output with the same rows (overwrite), so nothing is added
        before = self.rows(ledger)
        self.write(ledger, key)
        assert self.rows(ledger) == before

    def test_a_retried_write_changes_nothing(self, backend: Backend) -> None:
        ledger = backend.open()
        self.write(ledger, 1)
        self.retry(ledger, 1)
        assert pl.scan_delta(self.uri(ledger), storage_options=ledger.location.options).collect().equals(
            self._frame(1)
        )
