"""Metric histories of an MLflow file store (``file:./mlruns``) read from its files in bulk.

MLflow's client reads a file store's history one (run, key) at a time, a Python ``Metric``
per line. This reads every metric file of a run directly, with the client's parsing: a line is
``timestamp value [step]`` (or five fields, whose step the client reads as 0), a key with
``/`` is a nested file. ``None`` when the run's folder is not where the file store keeps it or
a line is not one the client reads: the importer then asks the client.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl
from lakeledger.ingest.importers.mlflow_sqlite import POINTS  # one shape of a metric point for both readers


def store_root(tracking_uri: str) -> Path | None:
    """The folder of a ``file:`` (or plain path) tracking URI; None for other schemes."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if "://" not in tracking_uri and ":" not in tracking_uri.split("/", 1)[0]:
        return Path(tracking_uri)
    return None


def run_points(root: Path, experiment_id: str, run_id: str) -> pl.DataFrame | None:
    """Every metric point of one run (``POINTS`` columns), or None (ask the client)."""
    folder = root / experiment_id / run_id / "metrics"
    if not folder.is_dir():
        return None
    rows: list[tuple[str, str, float, int, int]] = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            key = path.relative_to(folder).as_posix()
            for line in path.read_text().splitlines():
                parts = line.strip().split(" ")
                if len(parts) not in (2, 3, 5):
                    return None
                try:
                    step = int(parts[2]) if len(parts) == 3 else 0
                    rows.append((run_id, key, float(parts[1]), int(parts[0]), step))
                except ValueError:
                    return None
    return pl.DataFrame(rows, schema=POINTS, orient="row")
