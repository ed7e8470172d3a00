"""The typed dataset schema: one hash whoever describes the data, every declared shape read."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.store import events as ev
from lakeledger.store.codec import decode_payload
from lakeledger.store.errors import InvalidInput
from lakeledger.store.schema import Column, DatasetSchema, differences, parse_type, schema_hash

FRAME = pl.DataFrame(
    {
        "id": [1],
        "amount": [1.5],
        "name": ["x"],
        "ts": [datetime(2025, 1, 1, tzinfo=UTC)],
        "day": [date(2025, 1, 1)],
        "tags": [[1, 2]],
        "kind": pl.Series(["a"], dtype=pl.Categorical),
        "price": pl.Series([1], dtype=pl.Decimal(10, 2)),
        "ok": [True],
    }
)


def test_polars_parquet_and_the_stage_shape_agree() -> None:
    """What a stage declares (polars), what a watcher reads (Parquet footer) and the stage's old
    ``{"columns": [{"name", "dtype"}]}`` payload are one schema with one hash."""
    declared = DatasetSchema.from_polars(FRAME)
    buf = io.BytesIO()
    FRAME.write_parquet(buf)
    buf.seek(0)
    observed = DatasetSchema.from_arrow(pq.read_schema(buf))
    old = {"columns": [{"name": n, "dtype": str(t)} for n, t in FRAME.schema.items()], "schema_hash": "x"}
    legacy = DatasetSchema.parse(old)
    assert legacy is not None
    assert declared.types == observed.types == legacy.types
    assert declared.hash == observed.hash == legacy.hash == schema_hash(declared)
    assert declared.types["ts"] == "timestamp[us,UTC]" and declared.types["price"] == "decimal[10,2]"
    assert DatasetSchema.from_polars(FRAME.lazy()).hash == declared.hash


def test_record_spec_means_what_ingestion_writes() -> None:
    """``{"id": "int", "amount": "float?"}`` is int64 / nullable float64: what bronze holds."""
    spec = DatasetSchema.parse({"id": "int", "amount": "float?", "at": "datetime", "doc": "json"})
    assert spec == DatasetSchema(
        (
            Column("id", "int64", False),
            Column("amount", "float64", True),
            Column("at", "timestamp[us,UTC]", False),
            Column("doc", "string", False),
        )
    )
    written = pl.DataFrame(schema={"id": pl.Int64, "amount": pl.Float64, "at": pl.Datetime("us", "UTC"),
                                   "doc": pl.String})
    assert DatasetSchema.from_polars(written).hash == spec.hash  # nullability is not hashed
    assert spec.spec() == {"id": "int64", "amount": "float64?", "at": "timestamp[us,UTC]", "doc": "string"}


def test_spark_fields_shape_uses_spark_words() -> None:
    fields = [{"name": "id", "type": "integer"}, {"name": "v", "type": "double"},
              {"name": "t", "type": "timestamp", "nullable": False}]
    got = DatasetSchema.parse({"fields": fields})
    assert got is not None and got.types == {"id": "int32", "v": "float64", "t": "timestamp[us,UTC]"}
    assert DatasetSchema.parse(None) is None and DatasetSchema.parse({}) is None
    with pytest.raises(InvalidInput, match=r"schema\.id"):
        DatasetSchema.parse({"id": 5})
    with pytest.raises(InvalidInput, match="must be an object"):
        DatasetSchema.parse(["id"])


def test_differences_and_wildcards() -> None:
    declared = DatasetSchema.parse({"id": "long", "amount": "float64", "ts": "timestamp", "x": "any"})
    assert declared is not None
    ok = DatasetSchema.from_arrow(pa.schema([("id", pa.int64()), ("amount", pa.float64()),
                                             ("ts", pa.timestamp("ns")), ("x", pa.string())]))
    assert differences(declared, ok) == {}
    bad = DatasetSchema.from_arrow(pa.schema([("id", pa.string()), ("ts", pa.timestamp("ns")),
                                              ("extra", pa.bool_()), ("x", pa.int8())]))
    assert differences(declared, bad) == {
        "missing": ["amount"], "unexpected": ["extra"],
        "retyped": {"id": {"expected": "int64", "observed": "string"}},
    }
    assert differences(declared, bad, check_types=False) == {"missing": ["amount"], "unexpected": ["extra"]}
    assert differences(declared.without(["amount"]), bad.without({"extra"}), check_types=False) == {}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Large_String", "string"), ("utf8", "string"), ("Float64", "float64"), ("double", "float64"),
        ("bigint", "int64"), ("timestamp[us, tz=UTC]", "timestamp[us,UTC]"),
        ("Datetime(time_unit='ns', time_zone='Europe/Berlin')", "timestamp[ns,Europe/Berlin]"),
        ("Datetime(time_unit='us', time_zone=None)", "timestamp[us]"), ("decimal128(10, 2)", "decimal[10,2]"),
        ("List(Int64)", "list[int64]"), ("list<item: double>", "list[float64]"), ("date32[day]", "date"),
        ("Boolean", "bool"), ("any", "any"),
    ],
)
def test_type_names(text: str, canonical: str) -> None:
    assert parse_type(text) == canonical


ARROW_TYPES = st.sampled_from([
    pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32(), pa.float32(), pa.float64(),
    pa.string(), pa.large_string(), pa.binary(), pa.bool_(), pa.date32(), pa.timestamp("us", "UTC"),
    pa.timestamp("ns"), pa.decimal128(12, 3), pa.list_(pa.int64()), pa.duration("ms"),
])


@settings(max_examples=100, deadline=None)
@given(types=st.lists(ARROW_TYPES, min_size=1, max_size=6))
def test_canonical_names_are_fixed_points(types: list[pa.DataType]) -> None:
    """A canonical name parses to itself, so a schema survives being stored and read back."""
    schema = DatasetSchema.from_arrow(pa.schema([(f"c{i}", t) for i, t in enumerate(types)]))
    assert DatasetSchema.parse(schema.spec()) is not None
    again = DatasetSchema.parse(msgspec.to_builtins(schema))
    assert again == schema and again.hash == schema.hash
    assert all(parse_type(c.type) == c.type for c in schema.columns)


def test_old_dataset_declared_payloads_are_upcast() -> None:
    """Ledgers hold v1 ``dataset.declared`` events with a schema in any producer's shape."""
    shapes = [
        {"id": "int", "amount": "float?"},
        {"columns": [{"name": "id", "dtype": "Int64"}, {"name": "amount", "dtype": "Float64"}],
         "schema_hash": "0" * 64},
        {"fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}]},
        {"id": "int64", "amount": "double"},
    ]
    hashes = set()
    for shape in shapes:
        payload = msgspec.json.encode({"kind": "dataset.declared", "schema_version": 1, "event_id": "e1",
                                       "occurred_at": "2025-01-01T00:00:00Z", "dataset": "d", "schema": shape})
        event = decode_payload(payload)
        assert isinstance(event, ev.DatasetDeclared) and event.schema is not None
        assert event.schema_version == 2 and event.due_after is None
        hashes.add(event.schema.hash)
    assert len(hashes) == 1
    junk = msgspec.json.encode({"kind": "dataset.declared", "schema_version": 1, "event_id": "e2",
                                "occurred_at": "2025-01-01T00:00:00Z", "dataset": "d", "schema": {"id": 5}})
    assert isinstance(decode_payload(junk), ev.RawEvent)  # kept as it is, never guessed
