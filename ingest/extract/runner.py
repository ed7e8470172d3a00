"""Running sources: read batches, check them, commit them to bronze exactly once, checkpoint.

Per batch ``b`` of a source, in this order:
1. rejected rows -> quarantine, with app transaction ``(lakeledger.quarantine/<source>, b)``;
2. valid rows -> bronze, with app transaction ``(lakeledger.ingest/<source>, b)`` and the cursor
   in the commit info;
3. one ledger commit: ``partition.observed`` for each partition touched + ``ingest.checkpoint``.
A process killed anywhere in between is resumed by the next run: a step whose app transaction
already reached ``b`` is not repeated, and a bronze commit ahead of the last checkpoint gets its
checkpoint written from the commit info. Each source run is a ledger run with its metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import polars as pl
from lakeledger.ingest.extract.bronze import Bronze
from lakeledger.ingest.extract.config import LoadedConfig
from lakeledger.ingest.extract.quarantine import Quarantine
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.ingest.extract.sources import Batch, Context, Source, build
from lakeledger.store import Ledger
from lakeledger.store.errors import LedgerError, StorageError
from lakeledger.store.events import DatasetDeclared, IngestCheckpoint, PartitionObserved
from lakeledger.store.schema import DatasetSchema

PAUSE_ENV = "LAKELEDGER_INGEST_PAUSE"  # "<point>:<batch>": stop there (crash tests)
PAUSE_FILE_ENV = "LAKELEDGER_INGEST_PAUSE_FILE"  # written with the pid when paused


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


def last_checkpoint(ledger: Ledger, source: str) -> tuple[int, Any]:
    rows = ledger.events(kind="ingest.checkpoint", stream=f"source/{source}").select("payload").collect()
    if not rows.height:
        return 0, None
    event = msgspec.json.decode(rows["payload"][-1], type=IngestCheckpoint)
    return event.batch, event.cursor


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
    config_hash = _declare_config(ledger, loaded, name)
    params = {
        "source": name,
        "kind": config.kind,
        "config_hash": config_hash,
        "config_path": loaded.path,
        "full_refresh": full_refresh,
    }
    run = ledger.run(f"ingest/{name}", params=params, tags={"source": name, "kind": config.kind})
    result = SourceResult(source=name, run_id=run.run_id)
    try:
        _ingest(ledger, source, bronze, result, full_refresh=full_refresh, progress=progress)
    except (Exception, KeyboardInterrupt) as exc:
        message = loaded.redact(context.redact(str(exc) or type(exc).__name__))
        result.status, result.error = "failed", message
        _metrics(run, result)
        run.finish("aborted" if isinstance(exc, KeyboardInterrupt) else "failed", message)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return result
    _metrics(run, result)
    if result.stop_reason:
        run.set_tag("stop_reason", result.stop_reason)
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
    declared = _declaration(ledger, bronze)
    batch_no, cursor = last_checkpoint(ledger, name)
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
        batch_no, cursor, result.repaired = committed, info["cursor"], True
    if full_refresh:
        cursor = None
    quarantine = Quarantine(ledger.location)
    overwrite = full_refresh
    seen = pl.Series("key", [], pl.UInt64)
    for batch in source.batches(cursor):
        batch_no += 1
        at = datetime.now(UTC)
        valid, bad = _check(source, batch)
        if source.config.dedupe_key and valid.height:
            valid, duplicates, seen = _dedupe(valid, source.config.dedupe_key, seen)
            result.duplicates += duplicates.height
            bad = pl.concat([bad, duplicates], how="diagonal_relaxed")
        if bad.height and quarantine.committed_batch(name) < batch_no:
            quarantine.write(bad, source=name, batch=batch_no, run_id=result.run_id, at=at)
        _pause("after-quarantine", batch_no)
        events: list[Any] = []
        if valid.height:
            frame = bronze.prepare(valid, run_id=result.run_id, batch=batch_no, at=at)
            written = bronze.write(
                frame,
                batch=batch_no,
                cursor=batch.cursor,
                run_id=result.run_id,
                overwrite=overwrite,
            )
            overwrite = False
            events = _observations(bronze, written.partitions)
            if (redeclared := _with_schema(declared, bronze, frame)) is not None:
                _declared, events = redeclared, [redeclared, *events]
        _pause("after-bronze", batch_no)
        ledger.append([*events, IngestCheckpoint(source=name, cursor=batch.cursor, batch=batch_no)])
        _pause("after-checkpoint", batch_no)
        cursor = batch.cursor
        result.batches += 1
        result.read += batch.rows + batch.skipped
        result.skipped += batch.skipped
        result.written += valid.height
        result.quarantined += bad.height
        result.bytes += batch.bytes
        result.last_batch, result.cursor, result.done = batch_no, cursor, batch.done
        result.duration_s = time.monotonic() - result.started
        if progress:
            progress(result)
    if declared is None:
        _declare(ledger, bronze, source)  # no data yet: the record schema, until a batch lands
    final = source.finish(cursor)
    if final != cursor:
        ledger.append([IngestCheckpoint(source=name, cursor=final, batch=batch_no)])
    result.last_batch, result.cursor = batch_no, final
    result.stop_reason = source.stop_reason
    result.duration_s = time.monotonic() - result.started


def _check(source: Source, batch: Batch) -> tuple[pl.DataFrame, pl.DataFrame]:
    if batch.frame is not None:
        checked = source.schema.check_frame(
            batch.frame, keep=[c for c in (ORIGIN, ROW) if c in batch.frame.columns]
        )
    else:
        checked = source.schema.check_records(batch.records or [], batch.origin, batch.first_row)
    return checked.valid, checked.bad


def _dedupe(
    valid: pl.DataFrame, key: list[str], seen: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Keep the first row of each key in this run; the others are quarantined as duplicates."""
    hashes = valid.select(pl.struct(key).hash(seed=7)).to_series().alias("key")
    first = hashes.is_first_distinct() & ~hashes.is_in(seen.implode())
    dropped = valid.filter(~first)
    duplicates = dropped.select(
        pl.struct(pl.exclude(ORIGIN, ROW)).struct.json_encode().alias(RAW),
        pl.lit(f"duplicate of an earlier record with the same {', '.join(key)} in this run").alias(REASON),
        *[c for c in (ORIGIN, ROW) if c in valid.columns],
    )
    return valid.filter(first), duplicates, pl.concat([seen, hashes.filter(first)])


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


def _declaration(ledger: Ledger, bronze: Bronze) -> DatasetDeclared | None:
    found = [e for e in ledger.read(kind="dataset.declared", stream=f"dataset/{bronze.dataset}")
             if isinstance(e, DatasetDeclared)]
    return found[-1] if found else None


def _declare(ledger: Ledger, bronze: Bronze, source: Source) -> None:
    """Declare ``bronze/<source>`` with the record schema when no batch declared it with what
    bronze holds, so coverage views know the dataset and its key even before any data."""
    if _declaration(ledger, bronze) is None:
        ledger.declare_dataset(
            bronze.dataset, freq="D", partition_key=bronze.partition_by, schema=source.schema.describe()
        )


def _with_schema(
    declared: DatasetDeclared | None, bronze: Bronze, frame: pl.DataFrame
) -> DatasetDeclared | None:
    """The declaration with the schema bronze really holds (record, lineage and partition
    columns) when that differs from the declared one (a watcher judges files by it); committed
    with the batch's observations."""
    schema = DatasetSchema.from_polars(frame)
    if declared is None:
        return DatasetDeclared(
            dataset=bronze.dataset, freq="D", partition_key=bronze.partition_by, schema=schema
        )
    if declared.schema is not None and declared.schema.hash == schema.hash:
        return None
    kept = {f: getattr(declared, f) for f in ("dataset", "freq", "start", "end", "partition_key")}
    return DatasetDeclared(**kept, due_after=declared.due_after, schema=schema)


def _declare_config(ledger: Ledger, loaded: LoadedConfig, name: str) -> str:
    """Record the source's config (secrets masked, ``${VAR}`` kept) once per distinct hash."""
    digest = loaded.hash_of(name)
    found = (
        ledger.events(kind="config.declared", stream=f"config/ingest/{name}")
        .filter(pl.col("payload").str.contains(digest, literal=True))
        .select(pl.len())
        .collect()
        .item()
    )
    if not found:
        ledger.declare_config(f"ingest/{name}", loaded.recorded(name))
    return digest


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


def _pause(point: str, batch: int) -> None:
    """Crash-test hook: with ``LAKELEDGER_INGEST_PAUSE=<point>:<batch>`` the process writes its
    pid to ``LAKELEDGER_INGEST_PAUSE_FILE`` and waits there until that file is removed (or it
    is killed)."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or wanted != f"{point}:{batch}":
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if not marker:
        raise StorageError(f"{PAUSE_ENV} is set but {PAUSE_FILE_ENV} is not")
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(marker + ".tmp", marker)
    while os.path.exists(marker):
        time.sleep(0.02)


__all__ = ["LedgerError", "SourceResult", "ingest_source", "last_checkpoint", "run_sources"]
