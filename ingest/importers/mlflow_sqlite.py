"""An MLflow sqlite store read directly with the standard library's sqlite3, in bulk.

MLflow's client reads a sqlite store through SQLAlchemy, one ORM object per row, and building
the client alone (engine, schema check) costs about a second: more than importing 200k metric
points. This reader answers the few questions the importer asks (experiments, active runs with
params and tags, registered models with versions, tags and aliases, every metric point) from
MLflow's tables, with the client's meanings: runs of ``ACTIVE_ONLY``, experiments of every
lifecycle stage, versions without ``Deleted_Internal`` ones, the ``default`` workspace of
MLflow 3, ``is_nan`` points as NaN. The objects returned carry the attribute names of MLflow's
entities, so the importer builds events the same way from either source (tested equal).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace as Entity
from urllib.parse import unquote, urlparse

import polars as pl
from lakeledger.store.errors import InvalidInput

POINTS = {  # a metric point as both direct readers (sqlite, file store) give them
    "run_id": pl.String,
    "key": pl.String,
    "value": pl.Float64,
    "timestamp": pl.Int64,
    "step": pl.Int64,
}


def path_of(tracking_uri: str) -> str:
    """The file of a ``sqlite:///path`` URI (SQLAlchemy's form: ``sqlite:////abs/path`` is
    absolute, ``sqlite:///rel.db`` relative to the working directory)."""
    path = tracking_uri.split("?", 1)[0].split(":///", 1)[-1]
    if not path or not os.path.isfile(path):
        raise InvalidInput(
            f"MLflow store {tracking_uri}: no sqlite file at {path!r}; check --tracking-uri"
        )
    return path


class SqliteStore:
    """Read-only access to one MLflow sqlite store (a connection per store, closed by close)."""

    def __init__(self, tracking_uri: str) -> None:
        self.uri = tracking_uri
        self.conn = sqlite3.connect(f"file:{path_of(tracking_uri)}?mode=ro", uri=True)
        self._workspace = self._has_workspaces()

    def close(self) -> None:
        self.conn.close()

    def _has_workspaces(self) -> bool:
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(experiments)")}
        return "workspace" in columns

    def _where_workspace(self, alias: str = "") -> str:
        return f" AND {alias}workspace = 'default'" if self._workspace else ""

    def _pairs(self, query: str, *args: object) -> dict[object, dict[str, str]]:
        out: dict[object, dict[str, str]] = defaultdict(dict)
        for owner, key, value in self.conn.execute(query, args):
            out[owner][key] = value
        return out

    # -- the questions the importer asks ---------------------------------------------------
    def experiments(self) -> list[Entity]:
        tags = self._pairs("SELECT experiment_id, key, value FROM experiment_tags")
        rows = self.conn.execute(
            "SELECT experiment_id, name, creation_time FROM experiments WHERE 1=1"
            + self._where_workspace()
            + " ORDER BY experiment_id"
        )
        return [
            Entity(experiment_id=str(i), name=name, creation_time=t, tags=tags.get(i, {}))
            for i, name, t in rows
        ]

    def runs(self, experiment_id: str) -> Iterator[Entity]:
        rows = self.conn.execute(
            "SELECT run_uuid, name, status, start_time, end_time, artifact_uri FROM runs "
            "WHERE experiment_id = ? AND lifecycle_stage = 'active' ORDER BY start_time DESC, run_uuid",
            (int(experiment_id),),
        ).fetchall()
        ids = [r[0] for r in rows]
        params = self._of_runs("params", ids)
        tags = self._of_runs("tags", ids)
        for rid, name, status, start, end, artifact_uri in rows:
            yield Entity(
                info=Entity(
                    run_id=rid, run_name=name, status=status, start_time=start, end_time=end,
                    artifact_uri=artifact_uri,
                ),
                data=Entity(params=params.get(rid, {}), tags=tags.get(rid, {}), metrics={}),
            )

    def _of_runs(self, table: str, ids: list[str]) -> dict[object, dict[str, str]]:
        out: dict[object, dict[str, str]] = {}
        for at in range(0, len(ids), 500):  # sqlite's limit on bound parameters
            chunk = ids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            out.update(
                self._pairs(f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", *chunk)
            )
        return out

    def models(self) -> list[Entity]:
        aliases = self._pairs(
            "SELECT name, alias, version FROM registered_model_aliases WHERE 1=1" + self._where_workspace()
        )
        rows = self.conn.execute(
            "SELECT name, last_updated_time FROM registered_models WHERE 1=1"
            + self._where_workspace()
            + " ORDER BY name"
        )
        return [
            Entity(
                name=name,
                last_updated_timestamp=t,
                aliases={k: str(v) for k, v in aliases.get(name, {}).items()},
            )
            for name, t in rows
        ]

    def versions(self, name: str) -> list[Entity]:
        tags: dict[object, dict[str, str]] = defaultdict(dict)
        for version, key, value in self.conn.execute(
            "SELECT version, key, value FROM model_version_tags WHERE name = ?" + self._where_workspace(),
            (name,),
        ):
            tags[version][key] = value
        rows = self.conn.execute(
            "SELECT version, creation_time, last_updated_time, current_stage, source, run_id "
            "FROM model_versions WHERE name = ? AND current_stage != 'Deleted_Internal'"
            + self._where_workspace()
            + " ORDER BY version",
            (name,),
        )
        return [
            Entity(
                version=str(v), creation_timestamp=created, last_updated_timestamp=updated,
                current_stage=stage or "None", source=source, run_id=run_id or "", tags=tags.get(v, {}),
            )
            for v, created, updated, stage, source, run_id in rows
        ]

    def points(self) -> pl.DataFrame:
        """Every metric point (``POINTS`` columns), without a Python object per point where
        the table has rowids (MLflow's has): the points' ids, steps and timestamps come as one
        text list per (run, key), split in polars, and the values in rowid order, placed by
        rank; both queries read one snapshot of the store (one transaction). 0.6 -> 0.35 s CPU
        for 300k points."""
        self.conn.execute("BEGIN")  # a SELECT alone opens no transaction in sqlite3
        try:
            grouped = self._grouped_points()
        except sqlite3.OperationalError:  # no rowid (a table made WITHOUT ROWID): row by row
            grouped = None
        try:
            if grouped is None:
                return self._points_by_row()
            if not grouped.height:
                return pl.DataFrame(schema=POINTS)
            # one flat list, not a frame of 1-tuples: 0.24 -> 0.14 s for 300k values
            cursor = self.conn.execute(f"SELECT {_VALUE} FROM metrics ORDER BY rowid")
            values = pl.Series("value", [v for (v,) in cursor], dtype=pl.Float64)
        finally:
            self.conn.execute("ROLLBACK")
        return grouped.select(
            "run_id",
            "key",
            pl.lit(values).gather(pl.col("rowid").rank("ordinal") - 1).fill_null(float("nan")).alias("value"),
            "timestamp",
            "step",
        )

    def _grouped_points(self) -> pl.DataFrame:
        """(run_id, key, rowid, timestamp, step) of every point, read as one row per (run, key)."""
        lists = ("rowid", "timestamp", "step")
        rows = self.conn.execute(
            "SELECT run_uuid, key, group_concat(rowid), group_concat(timestamp), "
            "group_concat(coalesce(step, 0)) FROM metrics GROUP BY run_uuid, key"
        ).fetchall()
        if not rows:
            return pl.DataFrame(schema={"run_id": pl.String, "key": pl.String})
        frame = pl.DataFrame(rows, schema=["run_id", "key", *lists], orient="row")
        return (
            frame.with_columns(pl.col(c).str.split(",") for c in lists)
            .explode(*lists)
            .with_columns(pl.col(c).cast(pl.Int64) for c in lists)
        )

    def _points_by_row(self) -> pl.DataFrame:
        rows = self.conn.execute(
            f"SELECT run_uuid, key, {_VALUE}, timestamp, step FROM metrics"
        ).fetchall()
        frame = pl.DataFrame(rows, schema=POINTS, orient="row")
        return frame.with_columns(
            value=pl.col("value").fill_null(float("nan")), step=pl.col("step").fill_null(0)
        )


_VALUE = "CASE WHEN is_nan THEN NULL ELSE value END"  # is_nan rows: NaN, as the client makes them


def local_file(uri: str) -> str | None:
    """The local path of a ``file:`` URI or a plain path; None for any other scheme."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else None


def local_artifacts(artifact_uri: str) -> list[Entity] | None:
    """Files under a ``file:`` artifact root (``path`` relative to it, ``file_size``), as the
    client's recursive ``list_artifacts`` gives them; None for other schemes (ask the client)."""
    path = local_file(artifact_uri)
    if path is None:
        return None
    root = Path(path)
    if not root.is_dir():
        return []
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            full = Path(dirpath) / f
            relative = full.relative_to(root).as_posix()
            out.append(Entity(path=relative, is_dir=False, file_size=full.stat().st_size))
    return sorted(out, key=lambda e: e.path)


@contextlib.contextmanager
def opened(tracking_uri: str) -> Iterator[SqliteStore]:
    store = SqliteStore(tracking_uri)
    try:
        yield store
    finally:
        store.close()
