"""Schema and stats metadata; files written and validated against."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from lakeledger.ingest.checks import (
    read_schema_file,
    schema_of,
    stats_of,
    validate_schema_file,
    write_metadata,
)
from lakeledger.store.errors import InvalidInput

FRAME = pl.DataFrame(
    {
        "id": [3, 1, 2, 2],
        "score": [0.5, None, 1.5, -1.0],
        "name": ["b", "a", None, "a"],
        "at": [datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)],
        "tags": [["x"], [], ["y", "z"], None],
    }
)


def test_schema_of() -> None:
    schema = schema_of(FRAME)
    assert schema["columns"][:2] == [
        {"name": "id", "dtype": "Int64"},
        {"name": "score", "dtype": "Float64"},
    ]
    assert schema["columns"][4] == {"name": "tags", "dtype": "List(String)"}
    assert schema["schema_hash"] == schema_of(FRAME.lazy())["schema_hash"]
    assert schema["schema_hash"] != schema_of(FRAME.drop("tags"))["schema_hash"]


def test_stats_of() -> None:
    stats = stats_of(FRAME)
    assert stats["rows"] == 4
    cols = stats["columns"]
    assert cols["id"] == {"dtype": "Int64", "nulls": 0, "min": 1, "max": 3, "distinct": 3}
    assert (
        cols["score"]["nulls"] == 1 and cols["score"]["min"] == -1.0 and cols["score"]["max"] == 1.5
    )
    assert cols["name"]["distinct"] == 3  # a, b and null
    assert cols["at"]["max"] == "2025-01-04T00:00:00+00:00"
    assert cols["tags"] == {"dtype": "List(String)", "nulls": 1}
    assert stats_of(FRAME.clear())["columns"]["id"] == {
        "dtype": "Int64",
        "nulls": 0,
        "min": None,
        "max": None,
        "distinct": 0,
    }


def test_write_and_validate(tmp_path: Path) -> None:
    schema_path, stats_path = write_metadata(FRAME, str(tmp_path / "_meta"), "features")
    assert schema_path.endswith("features.schema.json") and stats_path.endswith(
        "features.stats.json"
    )
    assert json.loads(Path(stats_path).read_text())["rows"] == 4
    assert read_schema_file(schema_path)["at"] == "Datetime(time_unit='us', time_zone='UTC')"
    assert validate_schema_file(FRAME, schema_path).passed
    assert validate_schema_file(FRAME.clear(), schema_path).passed
    drifted = (
        FRAME.with_columns(pl.col("id").cast(pl.Int32)).drop("tags").with_columns(extra=pl.lit(1))
    )
    result = validate_schema_file(drifted, schema_path)
    assert result.failed_count == 3  # id dtype, tags missing, extra unexpected
    assert result.details["schema_file"] == schema_path
    assert validate_schema_file(drifted.drop("extra"), schema_path, strict=False).failed_count == 2


def test_bad_schema_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        read_schema_file(str(tmp_path / "nope.schema.json"))
    broken = tmp_path / "broken.schema.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidInput, match=r"broken\.schema\.json is not valid JSON"):
        read_schema_file(str(broken))
    wrong = tmp_path / "wrong.schema.json"
    wrong.write_text('{"columns": [{"name": "a"}]}')
    with pytest.raises(InvalidInput, match=r"wrong.schema.json is not a lakeledger schema.*dtype"):
        read_schema_file(str(wrong))
