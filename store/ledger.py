"""The Ledger: the one object producers and readers use.

``append`` is durable (one atomic commit); ``emit`` goes through the group-commit buffer and
is durable after ``flush``/``close``. Every typed helper below is a thin builder of one event.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any

import polars as pl

from . import events as ev
from . import lifecycle
from .admission import admit, build
from .buffer import BufferedWriter
from .codec import Rows
from .errors import InvalidInput
from .hashing import config_dict, config_hash
from .invariants import apply_model_rules, dedupe
from .location import Location, default_root
from .log import Committed, EventLog, LogSettings, Snapshot
from .periods import parse_duration
from .query import AsOf, filter_events
from .run import Run
from .schema import DatasetSchema

if TYPE_CHECKING:
    from .subscription import Subscription

ANY = object()  # set_stage(expect=ANY): no expectation


class Ledger:
    """One event log at a root (local path or URI): typed writers for every event kind, and
    reads of the raw events. ``lakeledger.Ledger`` adds views, search and the gate."""

    def __init__(self, location: Location, log: EventLog) -> None:
        self.location = location
        self.log = log
        self._writer: BufferedWriter | None = None
        self._buffer_options: dict[str, Any] = {}

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str] | None = None,
        storage_options: dict[str, str] | None = None,
        *,
        create: bool = True,
        settings: LogSettings | None = None,
        max_buffered_events: int = 50_000,
        max_buffer_delay_s: float = 2.0,
    ) -> Ledger:
        """Open (and by default create) the ledger at ``root`` (default ``$LAKELEDGER_ROOT``)."""
        lifecycle.mark_runtime()  # a forked child of a process that used deltalake cannot
        location = Location.of(root if root is not None else default_root(), storage_options)
        log = EventLog.create(location, settings) if create else EventLog(location, settings)
        if not create:
            log.table  # noqa: B018 - raises NotInitialised with a hint when absent
        ledger = cls(location, log)
        ledger._buffer_options = {
            "max_events": max_buffered_events,
            "max_delay_s": max_buffer_delay_s,
        }
        return ledger

    # -- writing -----------------------------------------------------------------------------
    def append(
        self, events: Iterable[ev.Event], *, check_ids: bool = True, durable: bool = True
    ) -> Committed:
        """Commit ``events`` atomically. Ids already in the log are skipped (idempotent retry).

        Every event is admitted first (``admission.admit``): a bad one refuses the whole batch.
        ``durable=False`` (group committers): published on return, durable after ``log.sync()``.
        """
        batch = [admit(e, self.location) for e in events]
        if self._writer is not None:
            # Keep the caller's order: what it emitted lands first. Always flush, even when
            # nothing is pending: the timer may be committing those events right now, and
            # flush waits for that commit.
            self._writer.flush()
        return self._commit(batch, check_ids=check_ids, durable=durable)

    def _commit(
        self, batch: list[ev.Event], *, check_ids: bool, durable: bool = True
    ) -> Committed:
        """One atomic commit of already admitted events, never through the buffer (the buffer
        commits with this; its events were admitted by ``emit``)."""
        lifecycle.check_runtime()
        skipped: list[str] = []

        def prepare(snapshot: Snapshot) -> Sequence[ev.Event]:
            unique, dropped = dedupe(snapshot, batch, check_log=check_ids)
            skipped[:] = dropped
            return apply_model_rules(snapshot, unique)

        result = self.log.commit(prepare, durable=durable)
        return Committed(result.version, result.events, tuple(skipped))

    def append_rows(self, rows: Rows) -> Committed:
        """Commit events built in bulk (``store.bulk``: e.g. an import's metric points) as one
        commit. Their checks were made when they were built; ids are not looked up in the log,
        so pass only new ones. ``Committed.events`` is empty (there are no event objects)."""
        lifecycle.check_runtime()
        if self._writer is not None:
            self._writer.flush()  # what was emitted before lands first
        return self.log.commit(lambda snapshot: rows)

    def emit(self, event: ev.Event) -> None:
        """Buffer one event (group commit). Durable after ``flush()`` or ``close()``.

        Admitted now, so a bad event fails in the caller, not later in a background flush."""
        if lifecycle.inherited_runtime:  # fail here, not at a flush far away
            lifecycle.check_runtime()
        self.writer.add(admit(event, self.location))

    @property
    def writer(self) -> BufferedWriter:
        """The group-commit buffer behind ``emit`` (created on first use, again after close)."""
        if self._writer is None or self._writer.closed:
            self._writer = BufferedWriter(
                lambda batch: self._commit(list(batch), check_ids=False), **self._buffer_options
            )
        return self._writer

    def flush(self) -> Committed | None:
        """Commit whatever ``emit`` buffered; None when nothing was pending."""
        return self._writer.flush() if self._writer is not None else None

    def close(self) -> None:
        """Flush and stop the buffer, finish pending log maintenance; the ledger can still be
        used (a new buffer starts)."""
        if self._writer is not None:
            self._writer.close()
        self.log.maintainer.wait(self.log.settings.commit_deadline_s)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _one(self, event: ev.Event) -> ev.Event:
        return self.append([event], check_ids=False).events[0]

    # -- runs and experiments ----------------------------------------------------------------
    def create_experiment(
        self, experiment: str, tags: dict[str, str] | None = None
    ) -> ev.ExperimentCreated:
        """Record an experiment (runs name it with ``experiment=``); durable on return."""
        return self._one(ev.ExperimentCreated(experiment=experiment, tags=tags or {}))  # type: ignore[return-value]

    def run(
        self,
        job: str | None = None,
        *,
        params: dict[str, ev.Scalar] | None = None,
        experiment: str | None = None,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> Run:
        """Start a run (``run.started`` is durable on return); use it as a context manager.
        ``parent_run_id`` nests it under another run."""
        fields: dict[str, Any] = {
            "job": job,
            "experiment": experiment,
            "name": name or job,
            "params": params or {},
            "tags": tags or {},
            "parent_run_id": parent_run_id,
        }
        if run_id:
            fields["run_id"] = run_id
        started = self._one(_build(ev.RunStarted, fields))
        return Run(self, started.run_id)  # type: ignore[attr-defined]

    def delete_run(self, run_id: str, reason: str | None = None) -> ev.RunDeleted:
        """Hide a run from the views (the audit keeps it); ``restore_run`` undoes it."""
        return self._one(ev.RunDeleted(run_id=run_id, reason=reason))  # type: ignore[return-value]

    def restore_run(self, run_id: str) -> ev.RunRestored:
        """Bring a deleted run back into the views."""
        return self._one(ev.RunRestored(run_id=run_id))  # type: ignore[return-value]

    # -- configs and artifacts ---------------------------------------------------------------
    def declare_config(self, name: str, config: Any) -> str:
        """Record a config (a ``HashableConfig``, Struct, dataclass or dict); returns its hash."""
        digest = config_hash(config)
        self._one(ev.ConfigDeclared(name=name, config_hash=digest, config=config_dict(config)))
        return digest

    def register_artifact(
        self,
        name: str,
        uri: str,
        *,
        config_hash: str | None = None,
        content_hash: str | None = None,
        size_bytes: int | None = None,
        run_id: str | None = None,
        inputs: list[str] | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ev.ArtifactRegistered:
        """Register a version of artifact ``name`` at ``uri`` (relative to the root or a full
        URI); every registration is kept (``artifact_versions`` view)."""
        event = ev.ArtifactRegistered(
            name=name,
            uri=uri,  # resolved against the root by ``admit``
            config_hash=config_hash,
            content_hash=content_hash,
            size_bytes=size_bytes,
            run_id=run_id,
            inputs=inputs or [],
            schema=schema,
        )
        return self._one(event)  # type: ignore[return-value]

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        run_id: str | None = None,
        **fields: Any,
    ) -> ev.ArtifactRegistered:
        """Copy a local file into the content-addressed store and register it (size, sha256).

        ``name`` defaults to the file's name. Logging the same bytes again stores nothing new.
        """
        from .artifacts import ArtifactStore

        stored = ArtifactStore(self.location).put(path)
        return self.register_artifact(
            name or os.path.basename(os.fspath(path)),
            stored.uri,
            content_hash=stored.digest,
            size_bytes=stored.size,
            run_id=run_id,
            **fields,
        )

    def get_artifact(
        self, name: str, dest: str | os.PathLike[str], *, content_hash: str | None = None
    ) -> str:
        """Copy the artifact's stored file to ``dest`` (a file or directory), checksum verified.

        The latest registration of ``name`` unless ``content_hash`` (a prefix will do) picks one.
        """
        from .artifacts import ArtifactStore, digest_of_uri

        found = [
            e
            for e in self.read(kind="artifact.registered", stream=f"artifact/{name}")
            if isinstance(e, ev.ArtifactRegistered)
            and (content_hash is None or (e.content_hash or "").startswith(content_hash))
        ]
        if not found:
            which = f" with content hash {content_hash}" if content_hash else ""
            raise InvalidInput(f"no artifact named {name!r}{which} is registered")
        art = found[-1]
        digest = digest_of_uri(art.uri)
        if digest is None or art.content_hash != digest:
            raise InvalidInput(
                f"artifact {name!r} is registered at {art.uri}, outside lakeledger's artifact store; "
                "read it from there"
            )
        target = os.fspath(dest)
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(name))
        return ArtifactStore(self.location).get(art.uri, digest, target)

    def retire_artifact(self, name: str, reason: str | None = None) -> ev.ArtifactRetired:
        """Mark an artifact retired (registering it again brings it back)."""
        return self._one(ev.ArtifactRetired(name=name, reason=reason))  # type: ignore[return-value]

    # -- models ------------------------------------------------------------------------------
    def register_model_version(
        self,
        model: str,
        *,
        artifact_uri: str | None = None,
        framework: str | None = None,
        run_id: str | None = None,
        metrics: dict[str, float] | None = None,
        params: dict[str, ev.Scalar] | None = None,
        tags: dict[str, str] | None = None,
    ) -> int:
        """Register the next version of ``model``; returns the version the store assigned."""
        event = ev.ModelVersionRegistered(
            model=model,
            artifact_uri=artifact_uri,
            framework=framework,
            run_id=run_id,
            metrics=metrics or {},
            params=params or {},
            tags=tags or {},
        )
        return self._one(event).version  # type: ignore[attr-defined]

    def set_stage(
        self,
        model: str,
        version: int,
        stage: ev.Stage,
        *,
        expect: Any = ANY,
        reason: str | None = None,
    ) -> ev.ModelStageChanged:
        """Move a model version to ``stage``; with ``expect``, only from that current stage.

        A mismatch raises ``ConcurrencyError``: someone else changed the stage meanwhile.
        """
        previous = None if expect is ANY else ("None" if expect is None else expect)
        event = ev.ModelStageChanged(
            model=model, version=version, stage=stage, previous_stage=previous, reason=reason
        )
        return self._one(event)  # type: ignore[return-value]

    def set_alias(self, model: str, alias: str, version: int) -> ev.ModelAliasSet:
        """Point ``alias`` (e.g. ``champion``) at a registered version of ``model``."""
        return self._one(ev.ModelAliasSet(model=model, alias=alias, version=version))  # type: ignore[return-value]

    # -- validation, datasets, ingestion -----------------------------------------------------
    def record_validation(
        self, target: str, check: str, passed: bool, **fields: Any
    ) -> ev.ValidationRecorded:
        """Record one check's result on ``target`` (severity, observed, expected... as fields)."""
        return self._one(
            _build(
                ev.ValidationRecorded,
                {"target": target, "check": check, "passed": passed, **fields},
            )
        )  # type: ignore[return-value]

    def declare_dataset(
        self,
        dataset: str,
        *,
        freq: ev.Freq = "D",
        start: date | str | None = None,
        end: date | str | None = None,
        partition_key: str | list[str] = "date",
        schema: DatasetSchema | dict[str, Any] | None = None,
        due_after: str | None = None,
    ) -> ev.DatasetDeclared:
        """Declare a partitioned dataset and the periods it must cover (the coverage view).

        ``schema`` in any shape ``DatasetSchema.parse`` reads; ``due_after`` the grace after a
        period's end before coverage expects it (``"6h"``; default: due once it has ended)."""
        keys = [partition_key] if isinstance(partition_key, str) else list(partition_key)
        if due_after is not None:
            parse_duration(due_after, "due_after")
        return self._one(
            _build(
                ev.DatasetDeclared,
                {
                    "dataset": dataset,
                    "freq": freq,
                    "start": start,
                    "end": end,
                    "partition_key": keys,
                    "schema": DatasetSchema.parse(schema),
                    "due_after": due_after,
                },
            )
        )  # type: ignore[return-value]

    def observe_partition(
        self, dataset: str, partition: str, **fields: Any
    ) -> ev.PartitionObserved:
        """Record that a partition of ``dataset`` landed (uri, rows, bytes, checksum...)."""
        return self._one(
            _build(ev.PartitionObserved, {"dataset": dataset, "partition": partition, **fields})
        )  # type: ignore[return-value]

    def remove_partition(
        self, dataset: str, partition: str, uri: str | None = None
    ) -> ev.PartitionRemoved:
        """Record that a partition was removed (coverage shows it missing again)."""
        return self._one(ev.PartitionRemoved(dataset=dataset, partition=partition, uri=uri))  # type: ignore[return-value]

    def checkpoint(self, source: str, cursor: Any, batch: int) -> ev.IngestCheckpoint:
        """Record how far ingestion of ``source`` got (resumed from on restart)."""
        return self._one(ev.IngestCheckpoint(source=source, cursor=cursor, batch=batch))  # type: ignore[return-value]

    # -- reading -----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The event log's current Delta version."""
        lifecycle.check_runtime()
        return self.log.version()

    def events(
        self,
        *,
        kind: str | list[str] | None = None,
        stream: str | list[str] | None = None,
        since: int | None = None,
        as_of: AsOf = None,
    ) -> pl.LazyFrame:
        """The log's rows, filtered; ordered by (version, seq) when collected."""
        lifecycle.check_runtime()
        frame = filter_events(
            self.log.scan(dedupe=False), kind=kind, stream=stream, since=since, as_of=as_of,
            deduplicate=True,
        )
        return frame.sort("version", "seq")

    def read(self, **filters: Any) -> list[ev.AnyEvent | ev.RawEvent]:
        """Typed events (upcast; unknown kinds as ``RawEvent``), filtered like ``events``."""
        from .codec import decode_payload

        return [
            decode_payload(p) for p in self.events(**filters).select("payload").collect()["payload"]
        ]

    def subscribe(self, **options: Any) -> Subscription:
        """Events as they commit: ``for e in ledger.subscribe(kind="model.*", consumer="n")``,
        from the consumer's durable position, at least once; see ``store/subscription.py``."""
        from .subscription import Subscription

        return Subscription(self, **options)

    def history(self, limit: int | None = None) -> pl.DataFrame:
        """One row per commit that wrote events: version, time, who, events, kinds."""
        lifecycle.check_runtime()
        frame = (
            self.log.scan(dedupe=False)
            .group_by("version")
            .agg(
                pl.col("recorded_at").first(),
                pl.col("writer_user").first().alias("user"),
                pl.col("writer_host").first().alias("host"),
                pl.col("writer_pid").first().alias("pid"),
                pl.len().alias("events"),
                pl.col("kind").unique().sort().alias("kinds"),
            )
            .with_columns(operation=pl.lit("APPEND"))
            .sort("version", descending=True)
        )
        if limit:
            frame = frame.head(limit)
        return frame.collect()


def _build(cls: type[ev.Event], fields: dict[str, Any]) -> ev.Event:
    """Build an event from loosely typed input (dates as strings...); unknown fields refused."""
    return build(cls, fields)
