"""Running sources: read batches, check them, commit them to bronze exactly once, checkpoint.

Per batch ``b`` of a source, in this order:
1. rejected rows -> quarantine, with app transaction ``(lakeledger.quarantine/<source>, b)``;
2. valid rows -> bronze, with app transaction ``(lakeledger.ingest/<source>, b)`` and the cursor
   in the commit info;
3. one ledger commit: ``partition.observed`` for each partition touched + ``ingest.checkpoint``.
A process killed anywhere in between is resumed by the next run: a bronze batch whose app
transaction already reached ``b`` is not repeated, a record already quarantined (by identity) is
not quarantined again, and a bronze commit ahead of the last checkpoint gets its checkpoint written
from the commit info. Each source run is a ledger run with its metrics. Cursors, commit metadata,
origins, quarantined rows and messages are recorded with secrets masked (``secrets.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from lakeledger.ingest.extract.bronze import Bronze
from lakeledger.ingest.extract.config import LoadedConfig
from lakeledger.ingest.extract.crashpoints import PAUSE_ENV, PAUSE_FILE_ENV, pause
from lakeledger.ingest.extract.declarations import declaration, declare_config, declare_dataset, with_schema
from lakeledger.ingest.extract.evolution import restored
from lakeledger.ingest.extract.quarantine import KEY, Quarantine
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON
from lakeledger.ingest.extract.secrets import Secrets
from lakeledger.ingest.extract.sources import Context, Source, build
from lakeledger.ingest.extract.validation import ahead, checked_batches
from lakeledger.store import Ledger
from lakeledger.store.errors import LedgerError, StorageError
from lakeledger.store.events import IngestCheckpoint, PartitionObserved


@dataclass
class SourceResult:
    source: str
    run_id: str = ""
    status: str = "success"
    batches: int = 0
    read: int = 0
    written: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    last_batch: int = 0
    cursor: Any = None
    done: float | None = None  # share of the work done, when the source can tell
    stop_reason: str | None = None
    repaired: bool = False  # a checkpoint lost in a crash was written from the bronze commit
    schema_added: list[str] = field(default_factory=list)  # columns the schema evolved by
    error: str | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "started"}


Progress = Callable[[SourceResult], None]


def run_sources(
    ledger: Ledger,
    loaded: LoadedConfig,
    *,
    only: Iterable[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    samples_dir: str | None = None,
) -> list[SourceResult]:
    """Ingest every enabled source (or those in ``only``); one failing source does not stop
    the others: its run is marked failed and its result carries the error."""
    names = list(only) if only else [s.name for s in loaded.config.sources if s.enabled]
    context = Context(
        base_dir=os.path.dirname(os.path.abspath(loaded.path)),
        samples_dir=samples_dir,
        secrets=loaded.secrets,
    )
    results = []
    for name in names:
        results.append(
            ingest_source(ledger, loaded, name, context, full_refresh=full_refresh, progress=progress)
        )
    return results


def last_checkpoint(ledger: Ledger, source: str, secrets: Secrets | None = None) -> tuple[int, Any]:
    """The last checkpointed batch and cursor (placeholders of known secrets expanded)."""
    found = [
        e
        for e in ledger.read(kind="ingest.checkpoint", stream=f"source/{source}")
        if isinstance(e, IngestCheckpoint)
    ]
    if not found:
        return 0, None
    return found[-1].batch, secrets.unmask(found[-1].cursor) if secrets else found[-1].cursor


def ingest_source(
    ledger: Ledger,
    loaded: LoadedConfig,
    name: str,
    context: Context,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> SourceResult:
    config = loaded.source(name)
    source = build(config, context)
    bronze = Bronze(ledger.location, name, config.partition_by)
    config_hash = declare_config(ledger, loaded, name)
    params = {
        "source": name,
        "kind": config.kind,
        "config_hash": config_hash,
        "config_path": context.redact(loaded.path),
        "full_refresh": full_refresh,
    }
    run = ledger.run(f"ingest/{name}", params=params, tags={"source": name, "kind": config.kind})
    result = SourceResult(source=name, run_id=run.run_id)
    try:
        _ingest(ledger, source, bronze, result, full_refresh=full_refresh, progress=progress)
    except (Exception, KeyboardInterrupt) as exc:
        message = context.redact(str(exc) or type(exc).__name__)
        result.status, result.error, result.cursor = "failed", message, context.secrets.mask(result.cursor)
        _metrics(run, result)
        run.finish("aborted" if isinstance(exc, KeyboardInterrupt) else "failed", message)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return result
    _metrics(run, result)
    result.cursor = context.secrets.mask(result.cursor)
    if result.stop_reason:
        result.stop_reason = context.redact(result.stop_reason)
        run.set_tag("stop_reason", result.stop_reason)
    if result.schema_added:
        run.set_tag("schema_added", ", ".join(result.schema_added))
    run.finish("success")
    return result


def _ingest(
    ledger: Ledger,
    source: Source,
    bronze: Bronze,
    result: SourceResult,
    *,
    full_refresh: bool,
    progress: Progress | None,
) -> None:
    name = source.config.name
    secrets = source.context.secrets
    declared = declaration(ledger, bronze)
    batch_no, cursor = last_checkpoint(ledger, name, secrets)
    committed = bronze.committed_batch()
    if committed > batch_no:  # killed after the bronze commit, before its checkpoint
        info = bronze.commit_info(committed)
        if info is None:
            raise StorageError(
                f"bronze/{name} holds batch {committed} but neither its checkpoint nor its commit "
                "info can be found; re-ingest it with --full-refresh"
            )
        ledger.append(
            [
                *_observations(bronze, info["partitions"]),
                IngestCheckpoint(source=name, cursor=info["cursor"], batch=committed),
            ]
        )
        batch_no, cursor, result.repaired = committed, secrets.unmask(info["cursor"]), True
    if full_refresh:
        cursor = None
    elif declared is not None:  # columns earlier runs added stay in the schema
        source.schema = restored(source.schema, declared.schema, bronze.partition_by)
    quarantine = Quarantine(ledger.location)
    known = quarantine.known(name, source.record_identity)
    overwrite = full_refresh
    checks = checked_batches(source, source.batches(cursor), result.schema_added)
    for checked in ahead(checks) if source.read_ahead and idle_core() else checks:
        batch, valid, bad = checked.batch, checked.valid, checked.bad
        batch_no += 1
        at = datetime.now(UTC)
        recorded = secrets.mask(batch.cursor)
        result.duplicates += checked.duplicates
        fresh = bad.head(0)
        if bad.height:
            bad = bad.with_columns(
                secrets.column(pl.col(c)) for c in (RAW, REASON, ORIGIN) if c in bad.columns
            )
            fresh = quarantine.new(bad, known, source.record_identity)
            if fresh.height:
                quarantine.write(fresh, source=name, batch=batch_no, run_id=result.run_id, at=at)
                known = pl.concat([known, fresh[KEY]])
        pause("after-quarantine", batch_no)
        events: list[Any] = []
        if valid:
            masked = bool(secrets.values)  # (no secrets: nothing to mask)
            frames = [
                bronze.prepare(
                    v.with_columns(secrets.column(pl.col(ORIGIN))) if masked and ORIGIN in v.columns else v,
                    run_id=result.run_id, batch=batch_no, at=at,
                )
                for v in valid
            ]
            if (redeclared := with_schema(declared, bronze, frames[0])) is not None:
                ledger.append([redeclared])  # the schema bronze is about to hold, before it does
                declared = redeclared
            written = bronze.write(
                frames, batch=batch_no, cursor=recorded, run_id=result.run_id, overwrite=overwrite
            )
            overwrite = False
            events = _observations(bronze, written.partitions)
        pause("after-bronze", batch_no)
        ledger.append([*events, IngestCheckpoint(source=name, cursor=recorded, batch=batch_no)])
        pause("after-checkpoint", batch_no)
        cursor = batch.cursor
        result.batches += 1
        result.read += checked.rows + batch.skipped
        result.skipped += batch.skipped
        result.written += checked.written
        result.quarantined += fresh.height
        result.bytes += batch.bytes
        result.last_batch, result.cursor, result.done = batch_no, cursor, batch.done
        result.duration_s = time.monotonic() - result.started
        # this batch's rows go now, not when the next batch arrives: meanwhile the read-ahead
        # is building that one, and the two would be held at once
        del checked, valid, bad, fresh
        frames = []
        if progress:
            progress(result)
    if declared is None:
        declare_dataset(ledger, bronze, source)  # no data yet: the record schema, until a batch lands
    final = source.finish(cursor)
    if final != cursor:
        ledger.append([IngestCheckpoint(source=name, cursor=secrets.mask(final), batch=batch_no)])
    result.last_batch, result.cursor = batch_no, final
    result.stop_reason = source.stop_reason
    result.duration_s = time.monotonic() - result.started


def idle_core() -> bool:
    """Is a core free for reading ahead? The overlap of the next batch's parse and check with
    this batch's write only pays on an idle core: on a busy machine it cost ~10% more CPU and
    ~20 MB more peak memory for no shorter run (1M-row CSV, 2 cores, load 9-14, 4 pairs)."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except OSError:  # no load average on this platform
        return True


def _observations(bronze: Bronze, labels: list[str]) -> list[Any]:
    stats = bronze.partition_stats(labels)
    return [
        PartitionObserved(
            dataset=bronze.dataset,
            partition=label,
            uri=bronze.uri_of(label),
            rows=stats.get(label, (None, None))[0],
            bytes=stats.get(label, (None, None))[1],
        )
        for label in labels
    ]


def _metrics(run: Any, result: SourceResult) -> None:
    run.log_metrics(
        {
            "records_read": result.read,
            "records_written": result.written,
            "records_quarantined": result.quarantined,
            "records_duplicate": result.duplicates,
            "records_skipped": result.skipped,
            "bytes": result.bytes,
            "batches": result.batches,
            "duration_s": round(time.monotonic() - result.started, 3),
        }
    )


__all__ = [
    "PAUSE_ENV",
    "PAUSE_FILE_ENV",
    "LedgerError",
    "SourceResult",
    "ingest_source",
    "last_checkpoint",
    "run_sources",
]
