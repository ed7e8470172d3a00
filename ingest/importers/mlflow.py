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
import importlib.util
import os
import sqlite3
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

try:
    import numpy as np
except ImportError:  # MLflow brings numpy; without it ids are laid out in polars
    np = None  # type: ignore[assignment]

import polars as pl
import pyarrow as pa
from lakeledger.ingest.importers.mlflow_files import run_points, store_root
from lakeledger.ingest.importers.mlflow_sqlite import POINTS, SqliteStore, local_artifacts, local_file
from lakeledger.store import Ledger, bulk
from lakeledger.store import events as ev
from lakeledger.store.artifacts import ArtifactStore
from lakeledger.store.errors import InvalidInput

Progress = Callable[[str, int], None]  # (what, how many more)

_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
_STATUS: dict[str, ev.RunStatus] = {"FINISHED": "success", "FAILED": "failed", "KILLED": "aborted"}
PAGE = 1000
POINTS_CHUNK = 65_536  # metric points per commit: small enough for the pipeline to overlap


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
        direct = bulk_metrics and _scheme(tracking_uri) == "sqlite"
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
            self._table = _table_metrics(tracking_uri)
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
        self._append_points()
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
            self._points.append(pl.DataFrame(points, schema=_POINTS, orient="row"))
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

    def _append_points(self) -> None:
        """Every metric point of the runs imported, one event each, appended in bulk
        (``store.bulk``: columns, not an object per point) after the runs' own events; points
        already in the ledger (an earlier import) are left out."""
        if self._table is not None and self._table_runs:
            runs = pl.Series(self._table_runs, dtype=pl.String).implode()
            self._points.append(self._table.filter(pl.col("run_id").is_in(runs)))
        points = pl.concat(self._points) if self._points else pl.DataFrame(schema=_POINTS)
        if not points.height:
            return
        # each (run, key)'s points in (step, timestamp) order; exact repeats (the file store
        # keeps them) stay distinct events through their occurrence number
        points = points.sort("run_id", "key", "step", "timestamp", maintain_order=True)
        if self.tables is not None:  # the metrics table's key makes every point distinct
            points = points.with_columns(occurrence=pl.lit(1, pl.Int64))
        else:
            same = ["run_id", "key", "step", "timestamp", "value"]
            points = points.with_columns(occurrence=pl.int_range(1, pl.len() + 1).over(same))
        self.summary.read["run.metric_logged"] += points.height
        known = self._known_ids(points)
        # a pipeline of chunks: ids hashed here (Python, holds the GIL) while a thread lays out
        # the previous chunk's payloads (polars) and another commits the one before (Parquet
        # encoding): both release the GIL, so on two cores the three overlap; single-threaded
        # pools keep the commits in order, and at most two chunks wait
        with ThreadPoolExecutor(max_workers=1) as layout, ThreadPoolExecutor(max_workers=1) as committer:
            waiting: list[Future[Any]] = []
            for at in range(0, points.height, POINTS_CHUNK):
                chunk = points.slice(at, POINTS_CHUNK)
                chunk = chunk.with_columns(
                    event_id=_metric_ids(chunk),
                    occurred_at=pl.from_epoch("timestamp", "ms").dt.replace_time_zone("UTC"),
                )
                if known is not None:
                    before = chunk.height
                    chunk = chunk.filter(~pl.col("event_id").is_in(known.implode()))
                    self.summary.skipped += before - chunk.height
                if not chunk.height:
                    continue
                rows = layout.submit(bulk.metric_rows, chunk)
                waiting.append(committer.submit(lambda rows=rows: self.ledger.append_rows(rows.result())))
                while len(waiting) > 2:
                    waiting.pop(0).result()
                self.summary.added += chunk.height
                self.progress("metric points", chunk.height)
            for done in waiting:
                done.result()

    def _known_ids(self, points: pl.DataFrame) -> pl.Series | None:
        """Ids of these runs' metric points already in the ledger (None: the log is empty)."""
        if self.ledger.version == 0:
            return None
        streams = ("run/" + points["run_id"].unique()).implode()
        return (
            self.ledger.log.scan(dedupe=False)
            .filter((pl.col("kind") == bulk.KIND) & pl.col("stream").is_in(streams))
            .select("event_id")
            .collect()["event_id"]
        )

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


_POINTS = POINTS


def _metric_ids(points: pl.DataFrame) -> pl.Series:
    """``metric_id`` of every point (columns run_id, key, step, timestamp, value, occurrence,
    sorted by run and key): one loop of hashes sharing each (run, key)'s prefix over the points
    packed at once (``_POINT``'s layout; packing each point was a third of the loop),
    the UUID text laid out in bulk (``_uuid_texts``: formatting it per point was a third of the time)."""
    groups = points.group_by("run_id", "key", maintain_order=True).len()
    packed = array("q", bytes(_POINT.size * points.height))  # _POINT's layout, 4 x 8 bytes
    for at, column in enumerate(("step", "timestamp", "value", "occurrence")):
        values = points[column].rechunk().to_arrow()  # the raw 8 bytes of each (float bits too)
        start = values.offset * 8
        words = array("q")
        words.frombytes(memoryview(values.buffers()[1])[start : start + 8 * len(values)])  # type: ignore[index]
        packed[at::4] = words
    if sys.byteorder != "little":
        packed.byteswap()
    raw, size = packed.tobytes(), _POINT.size
    fields = [raw[at : at + size] for at in range(0, len(raw), size)]
    sha1 = hashlib.sha1
    digests: list[bytes] = []
    add = digests.append
    at = 0
    for rid, key, n in groups.iter_rows():
        copy = sha1(_SEP.join(("mlflow", "metric", rid, key, "")).encode()).copy
        for packed_point in fields[at : at + n]:
            h = copy()
            h.update(packed_point)
            add(h.digest())
        at += n
    return _uuid_texts(digests)


def _uuid_texts(digests: list[bytes]) -> pl.Series:
    """``_as_uuid`` of each digest's hex, as one column: the version and variant bits set in
    the bytes and the text laid out with numpy (MLflow brings it; 60 ms for 300k ids against
    180 ms for polars' nine slices of the hex text, the way taken without numpy)."""
    if np is None:
        h = pl.Series(digests, dtype=pl.Binary).bin.encode("hex")
        return pl.select(
            pl.concat_str(
                h.str.slice(0, 8), pl.lit("-"), h.str.slice(8, 4), pl.lit("-8"), h.str.slice(13, 3),
                pl.lit("-"), h.str.slice(16, 1).replace_strict(_VARIANT), h.str.slice(17, 3),
                pl.lit("-"), h.str.slice(20, 12),
            ).alias("event_id")
        ).to_series()
    n = len(digests)
    raw = np.frombuffer(b"".join(digests), np.uint8).reshape(n, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x80  # version 8 (the hex digit at 12 becomes "8")
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant (the digit at 16: "89ab"[d & 3])
    hexes = _HEX_PAIRS[raw].view(np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = hexes[:, start:end]
    column = pa.Array.from_buffers(pa.binary(36), n, [None, pa.py_buffer(text.tobytes())])
    return pl.Series("event_id", column).cast(pl.Binary).cast(pl.String)


_HEX_PAIRS = None if np is None else np.frombuffer(b"".join(
    f"{i:02x}".encode() for i in range(256)), np.uint16)  # byte -> its two hex digits


def _scheme(tracking_uri: str) -> str:
    return tracking_uri.split(":", 1)[0].split("+", 1)[0]


def _table_metrics(tracking_uri: str) -> pl.DataFrame | None:
    """Every metric point of a database store other than sqlite (postgresql, mysql, mssql),
    read from MLflow's ``metrics`` table in one query through SQLAlchemy (which MLflow brings);
    ``is_nan`` rows become NaN as MLflow's client makes them. ``None`` for other stores or a
    table this code does not recognise (the client path then reads the histories)."""
    if _scheme(tracking_uri) not in _DATABASES:
        return None
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(tracking_uri)
        with engine.connect() as conn:
            rows = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics"
                )
            ]
        engine.dispose()
    except Exception:  # noqa: BLE001 - an unexpected schema: the client path still works
        return None
    frame = pl.DataFrame(rows, schema={**_POINTS, "is_nan": pl.Boolean}, orient="row")
    return frame.with_columns(
        value=pl.when(pl.col("is_nan")).then(float("nan")).otherwise(pl.col("value")),
        step=pl.col("step").fill_null(0),
    ).select(list(_POINTS))


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
