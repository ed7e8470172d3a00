"""Helpers shared by the ingest tests: writing configs and reading what an ingest wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from lakeledger.ingest.extract import config as ingest_config
from lakeledger.ingest.extract.sources import Batch, Source
from lakeledger.store import Ledger


def toml_value(value: Any) -> str:
    """A TOML value (inline tables for dicts); JSON strings are valid TOML basic strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{msgspec.json.encode(k).decode()} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return msgspec.json.encode(value).decode()


def write_config(path: Path, sources: list[dict[str, Any]]) -> Path:
    """Write ``sources.toml`` by hand (msgspec's TOML encoder needs tomli_w)."""
    blocks = ["[[sources]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in s.items()) for s in sources]
    path.write_text("\n".join(blocks))
    return path


def load(path: Path, only: list[str] | None = None) -> ingest_config.LoadedConfig:
    return ingest_config.load(path, only)


def bronze(ledger: Ledger, source: str) -> pl.DataFrame:
    return pl.scan_delta(ledger.location.join("bronze", source)).collect()


def quarantine(ledger: Ledger, source: str | None = None) -> pl.DataFrame:
    frame = pl.scan_delta(ledger.location.join("quarantine"))
    if source:
        frame = frame.filter(pl.col("source") == source)
    return frame.collect()


def payloads(ledger: Ledger, kind: str, stream: str | None = None) -> list[dict[str, Any]]:
    rows = ledger.events(kind=kind, stream=stream).select("payload").collect()["payload"]
    return [msgspec.json.decode(p) for p in rows]


def metrics(ledger: Ledger, run_id: str) -> dict[str, float]:
    return {p["key"]: p["value"] for p in payloads(ledger, "run.metric_logged", f"run/{run_id}")}


class CountingOptions(msgspec.Struct, forbid_unknown_fields=True):
    count: int


class CountingSource(Source):
    """A third-party source kind, named in configs as ``tests.ingest_fixtures:CountingSource``."""

    kind = "counting"
    Options = CountingOptions

    def batches(self, cursor: Any) -> Iterator[Batch]:
        start = (cursor or {}).get("next", 0)
        step = self.config.batch_rows
        for first in range(start, self.options.count, step):
            last = min(first + step, self.options.count)
            records = [{"n": i, "square": i * i} for i in range(first, last)]
            yield Batch(cursor={"next": last}, origin="counting", records=records)
