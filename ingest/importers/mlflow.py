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

import hashlib
import math
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lakeledger.store import Ledger
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput

Progress = Callable[[str, int], None]  # (what, how many more)

_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
_STATUS: dict[str, ev.RunStatus] = {"FINISHED": "success", "FAILED": "failed", "KILLED": "aborted"}
PAGE = 1000


def derived_id(*parts: object) -> str:
    """A deterministic UUID (version 8 layout) from MLflow identifiers: same input, same id."""
    return _as_uuid(hashlib.sha1(_SEP.join(map(str, ("mlflow", *parts))).encode()).hexdigest())


_SEP = "\x1f"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_POINT = struct.Struct("<qqdq")  # step, timestamp, value, occurrence


def _as_uuid(h: str) -> str:
    """The first 128 bits of a hex digest as a UUID string, version 8, RFC 4122 variant."""
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def metric_id(rid: str, key: str, step: int, timestamp: int, value: float, occurrence: int) -> str:
    """The id of one metric point: the run and key, then the point's fields packed in binary
    (formatting them as text was most of an import's time)."""
    digest = hashlib.sha1(_SEP.join(("mlflow", "metric", rid, key, "")).encode())
    digest.update(_POINT.pack(step, timestamp, value, occurrence))
    return _as_uuid(digest.hexdigest())


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
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise InvalidInput(
            "importing from MLflow needs the mlflow package: pip install 'lakeledger[mlflow]'"
        ) from None


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
        self.client = client_for(tracking_uri)
        self.batch_events = batch_events
        self.progress = progress or (lambda what, n: None)
        self.summary = ImportSummary()
        self._batch: list[ev.Event] = []
        self._points: dict[str, list[tuple[str, float, int, int]]] | None = (
            _table_metrics(tracking_uri) if bulk_metrics else None
        )

    def run(self) -> ImportSummary:
        from mlflow.entities import ViewType

        experiments = list(
            _pages(lambda t: self.client.search_experiments(view_type=ViewType.ALL, page_token=t))
        )
        for exp in experiments:
            self._experiment(exp)
        for exp in experiments:
            for run in _pages(
                lambda t, e=exp: self.client.search_runs(
                    [e.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=t
                )
            ):
                self._run(run, exp.name)
        for model in _pages(lambda t: self.client.search_registered_models(page_token=t)):
            self._model(model)
        self._flush()
        return self.summary

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

    def _run(self, run: Any, experiment: str) -> None:
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
        if self._points is not None:
            self._metric_points(rid, self._points.pop(rid, []))
        else:
            for key in sorted(data.metrics):
                history = self.client.get_metric_history(rid, key)
                self._metric_points(rid, [(key, m.value, m.timestamp, m.step) for m in history])
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

    def _metric_points(self, rid: str, points: list[tuple[str, float, int, int]]) -> None:
        """One event per point, each key's points in (step, timestamp) order.

        The hot loop of an import: ids are ``metric_id(...)``, from a hash of the prefix shared
        by a key's points.
        """
        points.sort(key=lambda p: (p[0], p[3], p[2]))
        seen: Counter[tuple[str, int, int, float]] = Counter()
        make, sha1, when, pack = ev.MetricLogged, hashlib.sha1, datetime.fromtimestamp, _POINT.pack
        out: list[ev.Event] = []
        prefix_key, prefix = None, sha1()
        for key, value, timestamp, step in points:
            if key != prefix_key:
                prefix_key, prefix = key, sha1(_SEP.join(("mlflow", "metric", rid, key, "")).encode())
            ident = (key, step, timestamp, value)
            seen[ident] += 1  # the file store keeps exact repeats; they stay distinct events
            h = prefix.copy()
            h.update(pack(step, timestamp, value, seen[ident]))
            out.append(
                make(
                    event_id=_as_uuid(h.hexdigest()),
                    occurred_at=when(timestamp / 1000, UTC),
                    run_id=rid,
                    key=key,
                    value=float(value),
                    step=int(step),
                )
            )
        self.summary.read["run.metric_logged"] += len(out)
        room = self.batch_events - len(self._batch)
        self._batch.extend(out[:room])
        for at in range(room, len(out), self.batch_events):
            self._flush()
            self._batch.extend(out[at : at + self.batch_events])
        if len(self._batch) >= self.batch_events:
            self._flush()
        self.progress("metric points", len(points))

    def _artifacts(self, rid: str, root: str, path: str | None) -> None:
        try:
            files = self.client.list_artifacts(rid, path)
        except Exception:  # noqa: BLE001 - an unreachable artifact store must not stop the import
            return
        for f in files:
            if f.is_dir:
                self._artifacts(rid, root, f.path)
                continue
            self._add(
                ev.ArtifactRegistered(
                    event_id=derived_id("artifact", rid, f.path),
                    name=f"mlflow/{rid}/{f.path}",
                    uri=f"{root.rstrip('/')}/{f.path}",
                    size_bytes=f.file_size,
                    run_id=rid,
                )
            )

    def _model(self, model: Any) -> None:
        name = model.name
        versions = sorted(
            _pages(lambda t: self.client.search_model_versions(f"name='{_quote(name)}'", page_token=t)),
            key=lambda v: int(v.version),
        )
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


def _table_metrics(tracking_uri: str) -> dict[str, list[tuple[str, float, int, int]]] | None:
    """Every metric point of a database store by run id, read from MLflow's ``metrics`` table
    in one query; ``None`` for other stores or a table this code does not recognise."""
    if tracking_uri.split(":", 1)[0].split("+", 1)[0] not in _DATABASES:
        return None
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(tracking_uri)
        by_run: dict[str, list[tuple[str, float, int, int]]] = {}
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics")
            for run_uuid, key, value, timestamp, step, is_nan in rows:
                point = (key, math.nan if is_nan else float(value), int(timestamp), int(step or 0))
                by_run.setdefault(run_uuid, []).append(point)
        engine.dispose()
    except Exception:  # noqa: BLE001 - an unexpected schema: the client path still works
        return None
    return by_run


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
    from mlflow.exceptions import MlflowException

    try:
        return MlflowImporter(ledger, tracking_uri, progress=progress).run()
    except MlflowException as exc:
        raise InvalidInput(
            f"MLflow store {tracking_uri}: {exc.message}; check --tracking-uri "
            "(events imported before this error are kept; run the import again to finish)"
        ) from None
