"""Declarative stages: compute, skip, lineage, contracts, partitions, and the demo pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import polars as pl
import pytest
from lakeledger.ingest.checks import CheckFailed, Range
from lakeledger.ingest.stages import Partitioning, stage
from lakeledger.store import HashableConfig, Ledger
from lakeledger.store.errors import InvalidInput

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo_pipeline.py"


class Order(msgspec.Struct):
    order_id: int
    kind: Literal["web", "shop"]
    at: datetime
    amount: float | None


class Total(msgspec.Struct):
    kind: str
    total: Annotated[float, msgspec.Meta(ge=0)]


class TotalsConfig(HashableConfig):
    min_amount: float = 0.0


def orders(n: int = 40, start: datetime = datetime(2025, 1, 1, tzinfo=UTC)) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": range(n),
            "kind": ["web" if i % 3 else "shop" for i in range(n)],
            "at": [start + timedelta(days=2 * i) for i in range(n)],
            "amount": [float(i) if i % 7 else None for i in range(n)],
        },
        schema_overrides={"at": pl.Datetime("us", "UTC")},
    )


def seed(ledger: Ledger, frame: pl.DataFrame, mode: str = "overwrite") -> None:
    frame.write_delta(
        ledger.location.join("bronze", "orders"),
        mode=mode,  # type: ignore[arg-type]
        storage_options=ledger.location.options,
    )


def totals_stage(ledger: Ledger, **options: Any) -> Any:
    @stage(
        ledger,
        "totals",
        inputs={"bronze/orders": Order},
        output=Total,
        config=TotalsConfig,
        **options,
    )
    def totals(src: pl.LazyFrame, cfg: TotalsConfig) -> pl.LazyFrame:
        return (
            src.filter(pl.col("amount") >= cfg.min_amount)
            .group_by("kind")
            .agg(pl.col("amount").sum().alias("total"))
            .sort("kind")
        )

    return totals


def test_compute_register_skip(ledger: Ledger) -> None:
    seed(ledger, orders())
    totals = totals_stage(ledger)
    first = totals(TotalsConfig(min_amount=1))
    assert first.status == "computed" and first.rows == 2
    assert first.inputs == ["bronze/orders@v0"] and first.version == "totals@v0"
    got = first.scan().collect()
    assert got.columns == ["kind", "total"]
    expected = orders().filter(pl.col("amount") >= 1).group_by("kind").agg(pl.col("amount").sum())
    assert dict(got.iter_rows()) == dict(expected.iter_rows())

    art = ledger.read(kind="artifact.registered", stream="artifact/totals")[-1]
    assert art.config_hash == TotalsConfig(min_amount=1).config_hash  # type: ignore[union-attr]
    assert art.inputs == ["bronze/orders@v0"] and art.uri == "stages/totals"  # type: ignore[union-attr]
    assert art.run_id == first.run_id  # type: ignore[union-attr]
    assert art.schema["stats"]["rows"] == 2  # type: ignore[union-attr,index]
    finished = ledger.read(kind="run.finished", stream=f"run/{first.run_id}")
    assert finished[-1].status == "success"  # type: ignore[union-attr]
    checks = {e.check: e for e in ledger.read(kind="validation.recorded")}  # type: ignore[union-attr]
    assert {"schema", "no_nulls:kind,total", "range:total", "categories:kind"} <= set(checks)
    assert all(e.run_id == first.run_id and e.passed for e in checks.values())  # type: ignore[union-attr]

    version_before = ledger.version
    again = totals(TotalsConfig(min_amount=1))
    assert again.skipped and "skipped, up to date" in again.message
    assert again.version == "totals@v0" and again.run_id == first.run_id
    assert ledger.version == version_before  # a skip writes nothing
    assert again.scan().collect().equals(got)


def test_reruns_on_config_input_or_missing_artifact(ledger: Ledger, tmp_path: Path) -> None:
    seed(ledger, orders())
    totals = totals_stage(ledger)
    totals({"min_amount": 1})  # dict configs are converted (and validated)
    state = totals.freshness({"min_amount": 2})
    assert not state.fresh and state.reasons[0].startswith("config totals is now")
    assert totals({"min_amount": 2}).status == "computed"

    seed(ledger, orders(3, datetime(2026, 1, 1, tzinfo=UTC)), mode="append")
    state = totals.freshness({"min_amount": 2})
    assert state.reasons == ["input changed (bronze/orders@v0 -> bronze/orders@v1)"]
    assert totals({"min_amount": 2}).inputs == ["bronze/orders@v1"]
    assert totals({"min_amount": 2}).skipped

    import shutil

    shutil.rmtree(ledger.location.join("stages", "totals"))
    gone = totals.freshness({"min_amount": 2})
    assert gone.reasons == ["file stages/totals is gone from storage"] and gone.status == "missing"
    assert totals({"min_amount": 2}).status == "computed"
    assert totals({"min_amount": 2}, force=True).status == "computed"


def test_metadata_files_when_asked(ledger: Ledger) -> None:
    seed(ledger, orders())
    totals_stage(ledger, metadata=True)()
    meta = Path(ledger.location.join("_meta", "stages"))
    stats = json.loads((meta / "totals.stats.json").read_text())
    assert stats["rows"] == 2 and stats["columns"]["kind"]["distinct"] == 2
    schema = json.loads((meta / "totals.schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == ["kind", "total"]


def test_ledger_stage_method(ledger: Ledger) -> None:
    """``@ledger.stage(...)`` on the facade (``lakeledger.Ledger``) is ``stage(ledger, ...)``."""
    seed(ledger, orders())

    @ledger.stage("totals", inputs=["bronze/orders"])
    def totals(src: pl.LazyFrame) -> pl.LazyFrame:
        return src.select(pl.len())

    assert totals().status == "computed" and totals().skipped


def test_bad_output_writes_nothing(ledger: Ledger) -> None:
    seed(ledger, orders())

    @stage(ledger, "negative", inputs=["bronze/orders"], output=Total)
    def negative(src: pl.LazyFrame) -> pl.DataFrame:
        return pl.DataFrame({"kind": ["web", None], "total": [-1.0, 2.0]})

    with pytest.raises(CheckFailed, match="nothing was written") as err:
        negative()
    assert {r.check: r.failed_count for r in err.value.results} == {
        "no_nulls:kind,total": 1,
        "range:total": 1,
    }
    assert not Path(ledger.location.join("stages", "negative")).exists()
    assert ledger.read(kind="artifact.registered") == []
    run = ledger.read(kind="run.finished")[-1]
    assert run.status == "failed" and "CheckFailed" in run.error  # type: ignore[union-attr]
    failed = [e for e in ledger.read(kind="validation.recorded") if not e.passed]  # type: ignore[union-attr]
    assert {e.check for e in failed} == {"no_nulls:kind,total", "range:total"}  # type: ignore[union-attr]


def test_bad_input_and_extra_checks(ledger: Ledger) -> None:
    seed(ledger, orders().with_columns(pl.lit("phone").alias("kind")))
    with pytest.raises(CheckFailed, match="input bronze/orders"):
        totals_stage(ledger)()
    seed(ledger, orders())
    with pytest.raises(CheckFailed, match="range:total"):
        totals_stage(ledger, checks=[Range("total", max=10)])()
    warned = totals_stage(ledger, checks=[Range("total", max=10, severity="warning")])()
    assert warned.status == "computed"
    assert [r.check for r in warned.report.results if not r.passed] == ["range:total"]  # type: ignore[union-attr]


def test_declaration_errors(ledger: Ledger) -> None:
    with pytest.raises(
        InvalidInput, match=r"takes 1 positional parameter\(s\) but the stage passes 2"
    ):

        @stage(ledger, "x", inputs=["a"], config=TotalsConfig)
        def x(a: pl.LazyFrame) -> pl.DataFrame: ...

    before = ledger.version
    with pytest.raises(InvalidInput, match="input 'bronze/none': no Delta table or Parquet files"):

        @stage(ledger, "y", inputs=["bronze/none"])
        def y(a: pl.LazyFrame) -> pl.DataFrame:
            return a.collect()

        y()
    assert ledger.version == before  # nothing was written
    seed(ledger, orders())
    with pytest.raises(InvalidInput, match="invalid TotalsConfig"):
        totals_stage(ledger)({"min_amount": "lots"})
    with pytest.raises(InvalidInput, match="format must be"):
        stage(ledger, "z", format="csv")(lambda: None)


def test_parquet_artifacts_chain(ledger: Ledger) -> None:
    seed(ledger, orders())
    totals = totals_stage(ledger, format="parquet")

    @stage(ledger, "share", inputs=["totals"], format="parquet")
    def share(t: pl.LazyFrame) -> pl.LazyFrame:
        return t.with_columns((pl.col("total") / pl.col("total").sum()).alias("share"))

    first = totals()
    assert first.version.startswith("totals@sha256:") and first.format == "parquet"
    downstream = share()
    assert downstream.inputs == [first.version]
    assert downstream.scan().collect()["share"].sum() == pytest.approx(1.0)
    assert totals().skipped and share().skipped
    assert totals({"min_amount": 5}).status == "computed"
    assert share().status == "computed"  # its input's content changed


def test_partitioned_stage_observes_periods_and_coverage(ledger: Ledger) -> None:
    seed(ledger, orders(40))  # every 2 days from 2025-01-01: Jan..Mar 2025

    @stage(
        ledger,
        "daily",
        inputs=["bronze/orders"],
        partition_by=Partitioning("at", "M", start="2024-12-01", end="2025-04-30"),
    )
    def daily(src: pl.LazyFrame) -> pl.LazyFrame:
        return src.drop_nulls("amount")

    result = daily()
    assert result.partitions == {"2025-01": 13, "2025-02": 12, "2025-03": 9}
    assert result.missing_periods == ["2024-12", "2025-04"]
    root = Path(ledger.location.join("stages", "daily"))
    assert (root / "year=2025" / "month=02").is_dir()
    seen = ledger.read(kind="partition.observed", stream="dataset/daily")
    assert {(e.partition, e.rows, e.uri) for e in seen} == {  # type: ignore[union-attr]
        ("2025-01", 13, "stages/daily/year=2025/month=01"),
        ("2025-02", 12, "stages/daily/year=2025/month=02"),
        ("2025-03", 9, "stages/daily/year=2025/month=03"),
    }
    assert len({e.schema_hash for e in seen}) == 1  # type: ignore[union-attr]
    declared = ledger.read(kind="dataset.declared", stream="dataset/daily")[-1]
    assert declared.schema.hash == seen[0].schema_hash  # type: ignore[union-attr]
    assert (declared.freq, str(declared.start), declared.partition_key) == (  # type: ignore[union-attr]
        "M",
        "2024-12-01",
        ["year", "month"],
    )
    cov = [e for e in ledger.read(kind="validation.recorded") if e.check == "coverage:M"][-1]  # type: ignore[union-attr]
    assert cov.failed_count == 2 and cov.details["missing"] == ["2024-12", "2025-04"]  # type: ignore[union-attr]
    assert result.scan().collect().height == 34
    assert daily().skipped


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_stage_on_every_backend(backend: Any, fmt: str) -> None:
    with backend.open() as ledger:
        seed(ledger, orders())
        totals = totals_stage(ledger, format=fmt, metadata=True)
        assert totals().status == "computed"
        assert totals().skipped
        assert totals().scan().collect().height == 2

        @stage(
            ledger,
            "monthly",
            inputs=["bronze/orders"],
            format=fmt,
            partition_by=Partitioning("at", "M"),
        )
        def monthly(src: pl.LazyFrame) -> pl.LazyFrame:
            return src

        result = monthly()
        assert result.partitions == {"2025-01": 16, "2025-02": 14, "2025-03": 10}
        got = result.scan().collect()
        assert got.height == 40
        assert got.schema["year"] == got.schema["month"] == pl.String  # same for both formats
        assert monthly().skipped
        assert monthly().scan().collect().schema == got.schema


def test_stage_output_may_be_arrow(ledger: Ledger) -> None:
    seed(ledger, orders())

    @stage(ledger, "arrowy", inputs=["bronze/orders"], output=Total)
    def arrowy(src: pl.LazyFrame) -> Any:
        return pl.DataFrame({"kind": ["web"], "total": [1.0]}).to_arrow()

    assert arrowy().scan().collect().to_dicts() == [{"kind": "web", "total": 1.0}]


def run_demo(root: Path, *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, str(DEMO), str(root), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_demo_pipeline(tmp_path: Path) -> None:
    """First run computes all, second skips all, a config change re-runs exactly the
    dependent stages, and until then the old artifact's config hash is not the declared one."""
    root = tmp_path / "demo"
    status = lambda rows: {r["stage"]: r["status"] for r in rows}  # noqa: E731
    first = run_demo(root)
    assert status(first) == dict.fromkeys(
        ["clean_sales", "monthly_features", "store_report"], "computed"
    )
    assert status(run_demo(root)) == dict.fromkeys(
        ["clean_sales", "monthly_features", "store_report"], "skipped"
    )

    plan = {r["stage"]: r for r in run_demo(root, "--plan", "--window", "3")}
    features = plan["monthly_features"]
    assert features["status"] == "stale"
    assert features["artifact_config_hash"] != features["declared_config_hash"]
    assert plan["store_report"]["status"] == "stale"  # downstream of a stale artifact
    assert plan["store_report"]["reasons"] == ["upstream monthly_features is stale"]
    assert plan["clean_sales"]["status"] == "fresh"
    with Ledger.open(root, create=False) as ledger:  # observable: artifact hash vs latest declared
        art = ledger.read(kind="artifact.registered", stream="artifact/monthly_features")[-1]
        declared = ledger.read(kind="config.declared", stream="config/monthly_features")[-1]
        assert art.config_hash != declared.config_hash  # type: ignore[union-attr]

    rerun = run_demo(root, "--window", "3")
    assert status(rerun) == {
        "clean_sales": "skipped",
        "monthly_features": "computed",
        "store_report": "computed",
    }
    report = next(r for r in rerun if r["stage"] == "store_report")
    assert report["inputs"] == ["monthly_features@v1"]
    assert status(run_demo(root, "--window", "3")) == dict.fromkeys(
        ["clean_sales", "monthly_features", "store_report"], "skipped"
    )
    assert {r["status"] for r in run_demo(root, "--plan", "--window", "3")} == {"fresh"}
