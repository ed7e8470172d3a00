"""Import an MLflow tracking store (sqlite, file or HTTP server) into the ledger.

Everything is read through MLflow's own ``MlflowClient``, so every store MLflow supports works
and what is imported is what MLflow itself reports. Each MLflow record becomes the matching
event with ``occurred_at`` its original time; event ids are UUIDs derived from MLflow's ids
(run id, metric key, step, timestamp, value...), so a second import of the same store adds
nothing, and an import after more training adds only what is new.

MLflow keeps no stage *history*: a model version has only its current stage (and the time it
last changed). The import records that stage as one ``model.stage_changed`` at that time;
changes made later in MLflow arrive as new events on the next import.

Metric points are the bulk of any store. MLflow's client returns them per (run, key) through
its ORM, a few thousand points per second; for database stores (sqlite, postgresql, mysql,
mssql) the importer reads MLflow's ``metrics`` table in one query instead (the table the client
reads, same values: ``is_nan`` rows become NaN as the client makes them), and falls back to the
client if that table is not what it expects. File and HTTP stores always go through the client.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from lakeledger.ingest.importers.mlflow_files import run_points, store_root
from lakeledger.ingest.importers.mlflow_ids import derived_id, metric_id
from lakeledger.ingest.importers.mlflow_points import (
    Progress,
    append_points,
    scheme,
    table_points,
)
from lakeledger.ingest.importers.mlflow_sqlite import POINTS, SqliteStore, local_artifacts, local_file
from lakeledger.store import Ledger
from lakeledger.store import events as ev
from lakeledger.store.artifacts import ArtifactStore
from lakeledger.store.errors import InvalidInput

__all__ = ["ImportSummary", "MlflowImporter", "derived_id", "import_mlflow", "metric_id"]

_STATUS: dict[str, ev.RunStatus] = {"FINISHED": "success", "FAILED": "failed", "KILLED": "aborted"}
PAGE = 1000


def _ms(value: int | None) -> datetime:
    return datetime.fromtimestamp((value or 0) / 1000, UTC)


@dataclass
class ImportSummary:
    read: Counter[str] = field(default_factory=Counter)  # events built from MLflow, by kind
    added: int = 0  # events new to the ledger
    skipped: int = 0  # already imported before

    def rows(self) -> list[dict[str, Any]]:
        return [{"kind": k, "read": n} for k, n in sorted(self.read.items())]


def _require_mlflow() -> None:
    """MLflow is the import's extra; looked up, not imported (importing it takes seconds, and
    a sqlite store is read without it)."""
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InvalidInput(
            "importing from MLflow needs the mlflow package: pip install 'lakeledger[mlflow]'"
        )


def client_for(tracking_uri: str) -> Any:
    _require_mlflow()
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("file:") or "://" not in tracking_uri:
        # MLflow 3 refuses file stores unless allowed; reading one to migrate away is the point
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


class MlflowImporter:
    """Reads one MLflow store; ``run()`` appends its events in batches and returns a summary."""

    def __init__(
        self,
        ledger: Ledger,
        tracking_uri: str,
        *,
        batch_events: int = 200_000,
        progress: Progress | None = None,
        bulk_metrics: bool = True,
    ) -> None:
        self.ledger = ledger
        self.tracking_uri = tracking_uri
        # sqlite read directly (bulk_metrics=False: through MLflow's client, for comparison)
        direct = bulk_metrics and scheme(tracking_uri) == "sqlite"
        self.tables = SqliteStore(tracking_uri) if direct else None
        self._client = None if self.tables is not None else client_for(tracking_uri)
        self.batch_events = batch_events
        self.progress = progress or (lambda what, n: None)
        self.summary = ImportSummary()
        self._batch: list[ev.Event] = []
        self._table: pl.DataFrame | None = None
        if self.tables is not None:
            self._table = self.tables.points()
        elif bulk_metrics:
            self._table = table_points(tracking_uri)
        self._points: list[pl.DataFrame] = []  # per run: run_id, key, value, timestamp, step
        self._table_runs: list[str] = []  # runs whose points are taken from _table, at the end
        self._files = store_root(tracking_uri) if bulk_metrics else None  # a file store's folder

    @property
    def client(self) -> Any:
        """MLflow's client (made on first use: a sqlite store needs it only for artifacts
        outside ``file:`` roots)."""
        if self._client is None:
            self._client = client_for(self.tracking_uri)
        return self._client

    def run(self) -> ImportSummary:
        try:
            return self._run_all()
        finally:
            if self.tables is not None:
                self.tables.close()

    def _run_all(self) -> ImportSummary:
        experiments = self._experiments()
        for exp in experiments:
            self._experiment(exp)
        for exp in experiments:
            for run in self._runs(exp):
                self._run(run, exp.name, str(exp.experiment_id))
        for model in self._models():
            self._model(model)
        self._flush()
        if self._table is not None and self._table_runs:  # one filter for all runs
            runs = pl.Series(self._table_runs, dtype=pl.String).implode()
            self._points.append(self._table.filter(pl.col("run_id").is_in(runs)))
        points = pl.concat(self._points) if self._points else pl.DataFrame(schema=POINTS)
        distinct = self.tables is not None  # MLflow's metrics table: its key makes points distinct
        append_points(self.ledger, points, distinct=distinct, summary=self.summary, progress=self.progress)
        return self.summary

    # -- reading, from the tables or through the client ---------------------------------------
    def _experiments(self) -> list[Any]:
        if self.tables is not None:
            return self.tables.experiments()
        from mlflow.entities import ViewType

        return list(
            _pages(lambda t: self.client.search_experiments(view_type=ViewType.ALL, page_token=t))
        )

    def _runs(self, exp: Any) -> Iterator[Any]:
        if self.tables is not None:
            return self.tables.runs(exp.experiment_id)
        from mlflow.entities import ViewType

        return _pages(
            lambda t: self.client.search_runs(
                [exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=t
            )
        )

    def _models(self) -> Iterator[Any]:
        if self.tables is not None:
            return iter(self.tables.models())
        return _pages(lambda t: self.client.search_registered_models(page_token=t))

    def _versions(self, name: str) -> list[Any]:
        if self.tables is not None:
            return self.tables.versions(name)
        return list(
            _pages(lambda t: self.client.search_model_versions(f"name='{_quote(name)}'", page_token=t))
        )

    # -- building events ---------------------------------------------------------------------
    def _add(self, event: ev.Event) -> None:
        self._batch.append(event)
        self.summary.read[event.kind] += 1
        if len(self._batch) >= self.batch_events:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        done = self.ledger.append(batch)
        self.summary.added += len(done.events)
        self.summary.skipped += len(done.skipped)
        self.progress("events", len(batch))

    def _experiment(self, exp: Any) -> None:
        self._add(
            ev.ExperimentCreated(
                event_id=derived_id("experiment", exp.experiment_id, exp.name),
                occurred_at=_ms(getattr(exp, "creation_time", None)),
                experiment=exp.name,
                tags=dict(exp.tags or {}),
            )
        )
        self.progress("experiments", 1)

    def _run(self, run: Any, experiment: str, experiment_id: str) -> None:
        info, data = run.info, run.data
        rid = info.run_id
        self._add(
            ev.RunStarted(
                event_id=derived_id("run", rid),
                occurred_at=_ms(info.start_time),
                run_id=rid,
                experiment=experiment,
                name=info.run_name,
                params=dict(data.params),
                tags=dict(data.tags),
                parent_run_id=data.tags.get("mlflow.parentRunId"),
            )
        )
        files = None if self._files is None else run_points(self._files, experiment_id, rid)
        if self._table is not None:
            self._table_runs.append(rid)  # one filter for all runs: one per run scanned every point
        elif files is not None:
            self._points.append(files)
        else:
            points = [
                (rid, key, m.value, m.timestamp, m.step)
                for key in sorted(data.metrics)
                for m in self.client.get_metric_history(rid, key)
            ]
            self._points.append(pl.DataFrame(points, schema=POINTS, orient="row"))
        self._artifacts(rid, info.artifact_uri, None)
        status = _STATUS.get(info.status)
        if status is not None:
            self._add(
                ev.RunFinished(
                    event_id=derived_id("run.finished", rid, info.status),
                    occurred_at=_ms(info.end_time or info.start_time),
                    run_id=rid,
                    status=status,
                )
            )
        self.progress("runs", 1)

    def _artifacts(self, rid: str, root: str, path: str | None) -> None:
        files = local_artifacts(root) if self.tables is not None and path is None else None
        if files is not None:
            for f in files:
                self._artifact(rid, root, f)
            return
        try:
            files = self.client.list_artifacts(rid, path)
        except Exception:  # noqa: BLE001 - an unreachable artifact store must not stop the import
            return
        for f in files:
            if f.is_dir:
                self._artifacts(rid, root, f.path)
            else:
                self._artifact(rid, root, f)

    def _artifact(self, rid: str, root: str, f: Any) -> None:
        """A remote artifact (s3://, mlflow-artifacts:...) is registered by its URI; a local file
        is copied into the ledger's content-addressed store: the ledger never points outside its
        root on disk (admission refuses that), and the copy stays verifiable after mlruns is gone."""
        uri, size, digest = f"{root.rstrip('/')}/{f.path}", f.file_size, None
        local = local_file(uri)
        if local is not None:
            if not os.path.isfile(local):
                return  # listed but gone since: nothing to import
            stored = ArtifactStore(self.ledger.location).put(local)
            uri, size, digest = stored.uri, stored.size, stored.digest
        self._add(
            ev.ArtifactRegistered(
                event_id=derived_id("artifact", rid, f.path),
                name=f"mlflow/{rid}/{f.path}",
                uri=uri,
                size_bytes=size,
                content_hash=digest,
                run_id=rid,
            )
        )

    def _model(self, model: Any) -> None:
        name = model.name
        versions = sorted(self._versions(name), key=lambda v: int(v.version))
        changes = []
        for v in versions:
            self._add(
                ev.ModelVersionRegistered(
                    event_id=derived_id("model.version", name, v.version),
                    occurred_at=_ms(v.creation_timestamp),
                    model=name,
                    version=int(v.version),
                    artifact_uri=v.source,
                    run_id=v.run_id or None,
                    tags=dict(v.tags or {}),
                )
            )
            if v.current_stage and v.current_stage != "None":
                changes.append(v)
        for v in sorted(changes, key=lambda v: (v.last_updated_timestamp or 0, int(v.version))):
            self._add(
                ev.ModelStageChanged(
                    event_id=derived_id(
                        "model.stage", name, v.version, v.current_stage, v.last_updated_timestamp
                    ),
                    occurred_at=_ms(v.last_updated_timestamp),
                    model=name,
                    version=int(v.version),
                    stage=v.current_stage,
                )
            )
        for alias, version in sorted(_aliases(model).items()):
            self._add(
                ev.ModelAliasSet(
                    event_id=derived_id("model.alias", name, alias, version),
                    occurred_at=_ms(model.last_updated_timestamp),
                    model=name,
                    alias=alias,
                    version=int(version),
                )
            )
        self.progress("models", 1)


def _aliases(model: Any) -> dict[str, str]:
    aliases = getattr(model, "aliases", None) or {}
    if isinstance(aliases, dict):
        return {str(k): str(v) for k, v in aliases.items()}
    return {a.alias: str(a.version) for a in aliases}  # older entity shape


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def import_mlflow(ledger: Ledger, tracking_uri: str, *, progress: Progress | None = None) -> ImportSummary:
    """Import everything in the MLflow store at ``tracking_uri``; safe to repeat."""
    _require_mlflow()
    try:
        return MlflowImporter(ledger, tracking_uri, progress=progress).run()
    except sqlite3.Error as exc:
        message = str(exc)
    except Exception as exc:
        loaded = sys.modules.get("mlflow.exceptions")
        if loaded is None or not isinstance(exc, loaded.MlflowException):
            raise
        message = exc.message
    raise InvalidInput(
        f"MLflow store {tracking_uri}: {message}; check --tracking-uri "
        "(events imported before this error are kept; run the import again to finish)"
    )
