"""Make the demo's landing data (run by scripts/demo): CSV order exports with one bad row and
an ingestion config, and Parquet files dropped into a hive-style landing directory by a tool
lakeledger does not control."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SOURCES_TOML = """\
[[sources]]
name = "orders"
kind = "csv"
cursor = "updated_at"
dedupe_key = ["order_id"]
options = { path = "orders/*.csv" }
schema = { order_id = "int", amount = "float", country = "str", updated_at = "datetime" }
"""


def orders(landing: Path, day: int, bad: bool = False) -> None:
    rows = [f"{day * 100 + i},{10.5 + i},DE,2025-03-0{day}T0{i}:00:00Z" for i in range(1, 6)]
    if bad:
        rows.append(f"{day * 100 + 9},n/a,FR,2025-03-0{day}T09:00:00Z")  # quarantined, not lost
    path = landing / "orders" / f"orders-2025-03-0{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("order_id,amount,country,updated_at\n" + "\n".join(rows) + "\n")


def parquet_drop(landing: Path, day: date) -> None:
    path = landing / "sales" / f"date={day.isoformat()}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"store": ["a", "b", "c"], "amount": [1.0, 2.5, 4.0]})
    pq.write_table(table, path)


def main(root: Path, step: str) -> None:
    landing = root / "landing"
    if step == "first":
        (landing).mkdir(parents=True, exist_ok=True)
        (landing / "sources.toml").write_text(SOURCES_TOML)
        orders(landing, 1)
        orders(landing, 2, bad=True)
        for d in range(3):
            parquet_drop(landing, date(2025, 3, 1) + timedelta(days=d))
    else:  # a new export arrives
        orders(landing, 3)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "first")
