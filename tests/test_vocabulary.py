"""One vocabulary across producers: what a stage, ingestion and the watcher record about the same
data agrees, and stage freshness, the staleness view and the gate give the same answer.

Each test here reproduces a disagreement found on the landed code (issue 10): a stage's own
Parquet output flagged by a watcher, weekly/quarterly partitions miscounted, bronze judged by
another schema, and a stale stage passing the gate.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from lakeledger.ingest.stages import Partitioning, stage
from lakeledger.ingest.watch.watcher import Watcher, WatchOptions
from lakeledger.projections.api import check, view
from lakeledger.store import Ledger
from lakeledger.store import events as ev


def _watch(ledger: Ledger, folder: Path | str, dataset: str) -> None:
    options = WatchOptions(dataset=dataset, debounce_s=0, grace_s=0, workers=1)
    Watcher(ledger, str(folder), options).run(once=True)


def _schema_failures(ledger: Ledger, dataset: str) -> list[Any]:
    found = ledger.read(kind="validation.recorded", stream=f"validation/{dataset}")
    return [e for e in found if isinstance(e, ev.ValidationRecorded) and not e.passed
            and e.check in ("schema", "partition_value")]


@pytest.mark.parametrize(
    ("freq", "first", "step", "labels"),
    [
        ("W", datetime(2025, 3, 3, tzinfo=UTC), timedelta(days=7),
         ["2025-W10", "2025-W11", "2025-W12", "2025-W13"]),
        ("Q", datetime(2024, 7, 1, tzinfo=UTC), timedelta(days=92),
         ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]),
    ],
)
def test_partitioned_stage_watched_by_a_watcher(
    ledger: Ledger, freq: str, first: datetime, step: timedelta, labels: list[str]
) -> None:
    """A weekly / quarterly Parquet stage, then a watcher on its folder for the same dataset:
    no schema failure, the same partitions, exact coverage (4 periods of data = 4 of 4)."""
    events = pl.DataFrame(
        {"at": [first + step * i + timedelta(hours=h) for i in range(4) for h in (1, 30)],
         "amount": [float(i) for i in range(8)], "shop": ["a", "b"] * 4},
        schema_overrides={"at": pl.Datetime("us", "UTC")},
    )

    @stage(ledger, "sales", partition_by=Partitioning("at", freq, start=first.date(),
                                                       end=(first + step * 3).date()),
           format="parquet")
    def sales() -> pl.DataFrame:
        return events

    result = sales()
    assert sorted(result.partitions) == labels
    _watch(ledger, ledger.location.join("stages", "sales"), "sales")

    assert _schema_failures(ledger, "sales") == []
    observed = [e for e in ledger.read(kind="partition.observed", stream="dataset/sales")
                if isinstance(e, ev.PartitionObserved)]
    assert {e.partition for e in observed} == set(labels)  # stage and watcher: same labels
    assert len({e.schema_hash for e in observed}) == 1  # ... and the one schema hash
    row = view(ledger, "coverage").row(0, named=True)
    assert (row["expected"], row["present"], row["missing"]) == (4, 4, 0)
    assert check(ledger).ok


def test_bronze_declared_by_ingestion_then_watched(ledger: Ledger, tmp_path: Path) -> None:
    """Ingestion declares ``bronze/<source>``; its Parquet files, landed in a folder a watcher
    follows for that dataset, conform to that declaration."""
    from lakeledger.ingest.extract.runner import run_sources

    from .ingest_fixtures import load, write_config

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text(
        "id,amount,at\n1,2.5,2025-03-01T10:00:00Z\n2,,2025-03-01T11:00:00Z\n"
    )
    source = {"name": "orders", "kind": "csv", "options": {"path": "data/*.csv"},
              "schema": {"id": "int", "amount": "float?", "at": "datetime"}}
    [result] = run_sources(ledger, load(write_config(tmp_path / "sources.toml", [source])))
    assert result.status == "success", result.error
    bronze = Path(ledger.location.join("bronze", "orders"))
    landing = tmp_path / "landing"
    shutil.copytree(bronze, landing, ignore=shutil.ignore_patterns("_delta_log"))
    _watch(ledger, landing, "bronze/orders")
    seen = [e for e in ledger.read(kind="partition.observed", stream="dataset/bronze/orders")
            if isinstance(e, ev.PartitionObserved) and e.uri and e.uri.startswith(str(landing))]
    assert seen, "the watcher registered the landed bronze files"
    assert _schema_failures(ledger, "bronze/orders") == []


def _clicks(ledger: Ledger, n: int, mode: str = "overwrite") -> None:
    frame = pl.DataFrame({"user": [f"u{i % 3}" for i in range(n)], "n": list(range(n))})
    frame.write_delta(ledger.location.join("raw", "clicks"), mode=mode)  # type: ignore[arg-type]


def test_external_delta_change_is_stale_everywhere(ledger: Ledger, cli: Any) -> None:
    """The table a stage read gets new data outside the ledger: stage, view and gate say stale."""
    _clicks(ledger, 5)

    @stage(ledger, "per_user", inputs=["raw/clicks"])
    def per_user(clicks: pl.LazyFrame) -> pl.LazyFrame:
        return clicks.group_by("user").agg(pl.col("n").sum()).sort("user")

    per_user()
    assert per_user.freshness().status == "fresh"
    assert cli("--root", ledger.location.root, "check").code == 0
    _clicks(ledger, 3, mode="append")  # outside the ledger: no event says so

    state = per_user.freshness()
    assert state.status == "stale"
    assert state.reasons == ["input changed (raw/clicks@v0 -> raw/clicks@v1)"]
    row = view(ledger, "staleness").filter(pl.col("name") == "per_user").row(0, named=True)
    assert (row["status"], row["reason"]) == ("stale", "input changed (raw/clicks@v0 -> raw/clicks@v1)")
    gate = cli("--root", ledger.location.root, "check")
    assert gate.code == 1 and "per_user" in gate.out and "raw/clicks@v1" in gate.out
    per_user()
    assert view(ledger, "staleness").filter(pl.col("name") == "per_user")["status"].to_list() == ["fresh"]
    assert cli("--root", ledger.location.root, "check").code == 0


def test_open_ended_dataset_is_due_only_after_its_grace(ledger: Ledger) -> None:
    """``check`` must not fail every day on the period still running (issue 11, item 20)."""
    today = datetime.now(UTC).date()
    start = today - timedelta(days=3)
    ledger.declare_dataset("daily", start=start, partition_key="date")
    for d in range(3):  # every ended day landed; today has not ended
        ledger.observe_partition("daily", f"date={start + timedelta(days=d)}")
    row = view(ledger, "coverage").row(0, named=True)
    assert (row["expected"], row["missing"]) == (3, 0)
    assert row["due_until"] == (today - timedelta(days=1)).isoformat()
    assert check(ledger).ok

    ledger.declare_dataset("late", start=start, partition_key="date", due_after="30h")
    late = view(ledger, "coverage").filter(pl.col("dataset") == "late").row(0, named=True)
    now = datetime.now(UTC)
    due_days = [start + timedelta(days=d) for d in range(4)
                if datetime.combine(start + timedelta(days=d + 1), datetime.min.time(), UTC)
                + timedelta(hours=30) <= now]
    assert late["expected"] == late["missing"] == len(due_days)  # yesterday only after 06:00 today

    ledger.declare_dataset("closed", start=start, end=today - timedelta(days=2), partition_key="date")
    closed = view(ledger, "coverage").filter(pl.col("dataset") == "closed").row(0, named=True)
    assert closed["expected"] == 2  # its end bounds it too


def test_due_after_is_checked_at_the_door(ledger: Ledger) -> None:
    from lakeledger.store.errors import InvalidInput

    with pytest.raises(InvalidInput, match="due_after"):
        ledger.declare_dataset("d", due_after="soon")
    assert ledger.declare_dataset("d", due_after="6h").due_after == "6h"


def test_due_rule_every_freq() -> None:
    from lakeledger.store.periods import last_due, parse_duration

    now = datetime(2025, 4, 1, 3, 30, tzinfo=UTC)  # a Tuesday, first day of Q2
    assert last_due("H", now) == datetime(2025, 4, 1, 2, tzinfo=UTC)
    assert last_due("D", now) == datetime(2025, 3, 31, tzinfo=UTC)
    assert last_due("D", now, parse_duration("6h")) == datetime(2025, 3, 30, tzinfo=UTC)
    assert last_due("W", now) == datetime(2025, 3, 24, tzinfo=UTC)
    assert last_due("M", now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert last_due("Q", now) == datetime(2025, 1, 1, tzinfo=UTC)
    assert last_due("Q", now, timedelta(days=2)) == datetime(2024, 10, 1, tzinfo=UTC)
    assert last_due("Y", now) == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_duration("0") == timedelta(0) and parse_duration("90s") == timedelta(seconds=90)
    assert date(2025, 1, 1) < date(2025, 4, 1)


def test_cli_append_reads_every_schema_shape_and_checks_due_after(cli: Any, tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    line = '{"kind": "dataset.declared", "dataset": "d", "schema": {"id": "int", "v": "float?"}, "due_after": "6h"}'
    assert cli("--root", root, "append", "-", input=line + "\n").code == 0
    with Ledger.open(root) as ledger:
        [declared] = ledger.read(kind="dataset.declared")
        assert isinstance(declared, ev.DatasetDeclared) and declared.schema is not None
        assert declared.schema.types == {"id": "int64", "v": "float64"} and declared.due_after == "6h"
    bad = cli("--root", root, "append", "-", input=line.replace('"6h"', '"soon"') + "\n")
    assert bad.code == 2 and "due_after" in bad.err and "Traceback" not in bad.err
    junk = cli("--root", root, "append", "-", input=line.replace('"int"', "5") + "\n")
    assert junk.code == 2 and "schema" in junk.err and "Traceback" not in junk.err
