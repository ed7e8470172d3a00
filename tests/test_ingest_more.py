"""Plug-in source kinds, remote storage, data-column partitions, the status view, and
properties of the record checks."""

from __future__ import annotations

from pathlib import Path

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.casts import cast_text
from lakeledger.ingest.extract.config import decode
from lakeledger.ingest.extract.records import RecordSchema
from lakeledger.ingest.extract.runner import run_sources
from lakeledger.projections.views.ingest_status import ingest_status
from lakeledger.store import Ledger
from lakeledger.store.events import current_schema_version

from .ingest_fixtures import bronze, load, payloads, write_config


def test_third_party_source_kind_by_import_path(tmp_path: Path, ledger: Ledger) -> None:
    source = {
        "name": "squares",
        "kind": "tests.ingest_fixtures:CountingSource",
        "batch_rows": 4,
        "options": {"count": 10},
        "schema": {"n": "int", "square": "int"},
    }
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    [result] = run_sources(ledger, loaded)
    assert (result.batches, result.written) == (3, 10)
    assert bronze(ledger, "squares").sort("n")["square"].to_list() == [i * i for i in range(10)]
    assert run_sources(ledger, loaded)[0].written == 0  # resumes from its own cursor


def test_partition_by_a_data_column(tmp_path: Path, ledger: Ledger) -> None:
    data = tmp_path / "a.csv"
    data.write_text("id,day\n1,2024-01-01\n2,2024-01-02\n3,2024-01-02\n")
    source = {
        "name": "daily",
        "kind": "csv",
        "options": {"path": "a.csv"},
        "schema": {"id": "int", "day": "date"},
        "partition_by": ["day"],
    }
    run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    observed = {p["partition"]: p["rows"] for p in payloads(ledger, "partition.observed")}
    assert observed == {"2024-01-01": 1, "2024-01-02": 2}
    assert (tmp_path / "ledger/bronze/daily/day=2024-01-02").is_dir()
    [declared] = payloads(ledger, "dataset.declared")
    assert declared["partition_key"] == ["day"]


@pytest.mark.s3
def test_csv_into_a_ledger_on_s3(tmp_path: Path, moto_endpoint: str) -> None:
    from .conftest import s3_backend

    backend = s3_backend(moto_endpoint)
    (tmp_path / "a.csv").write_text("id,v\n1,a\n2,b\nx,c\n")
    source = {
        "name": "remote",
        "kind": "csv",
        "options": {"path": "a.csv"},
        "schema": {"id": "int", "v": "str"},
    }
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    with backend.open() as ledger:
        [result] = run_sources(ledger, loaded)
        assert result.status == "success", result.error
        assert (result.written, result.quarantined) == (2, 1)
        rows = pl.scan_delta(
            ledger.location.join("bronze", "remote"), storage_options=backend.storage_options
        ).collect()
        assert sorted(rows["id"]) == [1, 2]
        assert run_sources(ledger, loaded)[0].read == 0


@pytest.mark.s3
def test_csv_files_on_s3(tmp_path: Path, ledger: Ledger, moto_endpoint: str) -> None:
    import boto3

    from .conftest import S3_CREDS

    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="secret-testing-key",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="landing")
    client.put_object(Bucket="landing", Key="orders/day=1.csv", Body=b"id,v\n1,a\n2,b\n")
    client.put_object(Bucket="landing", Key="orders/notes.txt", Body=b"not csv")
    options = {**S3_CREDS, "AWS_ENDPOINT_URL": moto_endpoint}
    source = {
        "name": "landing",
        "kind": "csv",
        "schema": {"id": "int", "v": "str"},
        "options": {"path": "s3://landing/orders/*.csv", "storage_options": options},
    }
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    [first] = run_sources(ledger, loaded)
    assert first.status == "success", first.error
    assert first.written == 2
    client.put_object(Bucket="landing", Key="orders/day=2.csv", Body=b"id,v\n3,c\n")
    assert run_sources(ledger, loaded)[0].written == 1
    assert sorted(bronze(ledger, "landing")["id"]) == [1, 2, 3]
    [*_, checkpoint] = payloads(ledger, "ingest.checkpoint", "source/landing")
    assert sorted(checkpoint["cursor"]["files"]) == [
        "s3://landing/orders/day=1.csv",
        "s3://landing/orders/day=2.csv",
    ]


def test_status_view_is_a_pure_function_of_events() -> None:
    def row(version: int, kind: str, payload: dict[str, object]) -> dict[str, object]:
        return {  # a log row: the envelope columns and the payload
            "version": version,
            "seq": 0,
            "event_id": f"e{version}",
            "kind": kind,
            "schema_version": current_schema_version(kind),
            "stream": "",
            "occurred_at": None,
            "recorded_at": None,
            "writer_user": "u",
            "writer_host": "h",
            "writer_pid": 1,
            "payload": msgspec.json.encode(payload).decode(),
        }

    events = pl.LazyFrame(
        [
            row(1, "run.started", {"run_id": "r1", "job": "ingest/a", "params": {"source": "a"}}),
            row(2, "ingest.checkpoint", {"source": "a", "batch": 1, "cursor": {"since": "x"}}),
            row(3, "run.metric_logged", {"run_id": "r1", "key": "records_written", "value": 5}),
            row(4, "run.finished", {"run_id": "r1", "status": "success"}),
            row(5, "run.started", {"run_id": "r2", "job": "ingest/a", "params": {"source": "a"}}),
            row(6, "run.finished", {"run_id": "r2", "status": "failed", "error": "boom"}),
            row(7, "run.started", {"run_id": "t1", "job": "train", "params": {}}),
        ],
        schema_overrides={"occurred_at": pl.Datetime("us", "UTC"), "recorded_at": pl.Datetime("us", "UTC")},
    )
    [status] = ingest_status(events).to_dicts()
    assert status["source"] == "a" and status["batch"] == 1
    assert status["cursor"] == '{"since":"x"}'
    assert (status["last_run"], status["status"], status["last_error"]) == ("r2", "failed", "boom")
    assert (status["total_written"], status["runs"], status["failed_runs"]) == (5, 2, 1)


SPEC = {"id": "int", "score": "float?", "flag": "bool?", "day": "date?"}
cells = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "no", "2024-02-29", "2023-02-29", "x", "", " 7 "]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({k: cells for k in SPEC}), max_size=30))
def test_every_row_is_either_valid_or_quarantined(rows: list[dict[str, str | None]]) -> None:
    """Nothing is silently dropped, and what passes really has the declared types."""
    schema = RecordSchema.from_spec(SPEC)
    frame = pl.DataFrame(rows, schema=dict.fromkeys(SPEC, pl.String)).with_row_index("_row")
    checked = schema.check_frame(frame, keep=["_row"])
    assert checked.valid.height + checked.bad.height == len(rows)
    assert set(checked.valid["_row"]).isdisjoint(set(checked.bad["_row"]))
    for record in checked.valid.drop("_row").to_dicts():  # the Struct accepts every valid row
        msgspec.convert(record, schema.struct)
    for raw, reason in checked.bad.select("_raw", "_reason").iter_rows():
        assert reason.split(":")[0] in SPEC
        assert msgspec.json.decode(raw).keys() == set(SPEC)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 12), st.lists(st.booleans(), min_size=1, max_size=25))
def test_batch_size_never_changes_what_lands(
    tmp_path_factory: pytest.TempPathFactory, batch_rows: int, good: list[bool]
) -> None:
    base = tmp_path_factory.mktemp("prop")
    lines = [f"{i},{'1.5' if ok else 'bad'}" for i, ok in enumerate(good)]
    (base / "a.csv").write_text("id,v\n" + "\n".join(lines) + "\n")
    raw = {
        "sources": [
            {
                "name": "p",
                "kind": "csv",
                "options": {"path": str(base / "a.csv")},
                "schema": {"id": "int", "v": "float"},
                "batch_rows": batch_rows,
            }
        ]
    }
    with Ledger.open(base / "ledger") as ledger:
        [result] = run_sources(ledger, decode(raw))
        assert result.batches == -(-len(good) // batch_rows)
        expected = [i for i, ok in enumerate(good) if ok]
        if expected:
            assert sorted(bronze(ledger, "p")["id"]) == expected
        else:  # nothing valid: no bronze commit at all, the checkpoints still advance
            assert not (base / "ledger/bronze/p").exists()
            assert payloads(ledger, "ingest.checkpoint")[-1]["batch"] == result.batches
        assert result.quarantined == good.count(False)


def test_source_config_is_declared_once_per_version(tmp_path: Path, ledger: Ledger) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    source = {"name": "s", "kind": "csv", "options": {"path": "a.csv"}, "schema": {"id": "int"}}
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    first = run_sources(ledger, loaded)[0]
    run_sources(ledger, loaded)
    [declared] = payloads(ledger, "config.declared", "config/ingest/s")
    assert declared["config"]["options"] == {"path": "a.csv"}
    [started, _] = payloads(ledger, "run.started")
    assert started["run_id"] == first.run_id
    assert started["params"]["config_hash"] == declared["config_hash"]
    changed = load(write_config(tmp_path / "s.toml", [{**source, "batch_rows": 10}]))
    run_sources(ledger, changed)
    assert len(payloads(ledger, "config.declared", "config/ingest/s")) == 2


@pytest.mark.parametrize(
    "kind, values, encoded",
    [("str", ["a", "b-1", "x y"], 2), ("int", ["1", "-2", "30"], 3), ("bool", ["true", "false", "true"], 0)],
)
def test_batches_land_partitioned_alike_through_either_writer(
    tmp_path: Path, ledger: Ledger, kind: str, values: list[str], encoded: int
) -> None:
    """Batches are encoded by polars and committed as files (into a table created empty); a value
    a path would have to escape (or that str() spells unlike Delta) goes through delta-rs' writer:
    the same partitions, rows and counts either way."""
    rows = [(i, values[i // 10]) for i in range(30)]  # batch b holds values[b - 1]
    (tmp_path / "a.csv").write_text("id,k\n" + "".join(f"{i},{k}\n" for i, k in rows))
    source = {"name": "p", "kind": "csv", "options": {"path": "a.csv"}, "schema": {"id": "int", "k": kind},
              "partition_by": ["k"], "batch_rows": 10}
    [result] = run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert (result.batches, result.written) == (3, 30)
    landed = pl.scan_delta(f"{tmp_path}/ledger/bronze/p").collect().sort("id")
    typed = pl.DataFrame({"k": [k for _, k in rows]}).select(cast_text(pl.col("k"), kind).alias("k"))["k"].to_list()
    assert landed["id"].to_list() == list(range(30)) and landed["k"].to_list() == typed
    assert landed["_batch"].to_list() == [1 + i // 10 for i in range(30)]
    observed = {p["partition"]: p["rows"] for p in payloads(ledger, "partition.observed")}
    assert observed == {str(v): typed.count(v) for v in set(typed)}
    files = list((tmp_path / "ledger/bronze/p").glob("k=*/*.parquet"))
    assert len([f for f in files if f.name.endswith(".zstd.parquet")]) == encoded
