"""The typed writers of the Ledger: one builder per event kind a producer records.

Kept apart from ``ledger.py`` (opening, appending, reading): each method here builds one event
(or checks a model rule first) and commits it through ``append``, so a new event kind adds a
method here and nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from . import events as ev
from .admission import build
from .errors import InvalidInput
from .hashing import config_dict, config_hash
from .log import Committed
from .periods import parse_duration
from .run import Run
from .schema import DatasetSchema

if TYPE_CHECKING:
    from .location import Location
    from .log import EventLog

ANY = object()  # set_stage(expect=ANY): no expectation


class Recording:
    """Typed writers for every event kind, over ``append`` (mixed into ``Ledger``)."""

    if TYPE_CHECKING:  # provided by Ledger
        log: EventLog
        location: Location

        def append(self, events: Iterable[ev.Event], *, check_ids: bool = True) -> Committed: ...

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


def _build(cls: type[ev.Event], fields: dict[str, Any]) -> ev.Event:
    """Build an event from loosely typed input (dates as strings...); unknown fields refused."""
    return build(cls, fields)
