"""Checking a source's batches ahead of the writes: vectorised, in bounded chunks, one batch ahead.

A batch is checked in chunks of about ``CHECK_ROWS`` rows, so the temporary columns of the casts
stay small whatever ``batch_rows`` is; the valid rows stay as typed chunks, which bronze writes as
one stream and one commit. ``ahead`` reads and checks the next batch in a thread while the runner
writes the previous one, when a core is idle (``runner.idle_core``; polars and deltalake release
the GIL, so the two overlap on two cores); the writes themselves stay in the runner's thread, in
their order, so exactly-once and crash resumption are unchanged.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from lakeledger.ingest.extract import records
from lakeledger.ingest.extract.evolution import evolved, frozen, unknown_columns
from lakeledger.ingest.extract.records import ORIGIN, RAW, REASON, ROW
from lakeledger.ingest.extract.sources import Batch, Source

CHECK_ROWS = 1 << 16


@dataclass
class Checked:
    """A batch, checked: typed valid rows (in chunks) and quarantine rows."""

    batch: Batch
    valid: list[pl.DataFrame]
    bad: pl.DataFrame
    rows: int  # rows the source read (the batch's frame is dropped once checked)
    duplicates: int = 0

    @property
    def written(self) -> int:
        return sum(v.height for v in self.valid)


def checked_batches(source: Source, batches: Iterator[Batch], schema_added: list[str]) -> Iterator[Checked]:
    """Each batch split into valid chunks and quarantine rows (duplicates of ``dedupe_key`` in
    this run included); columns the schema lacks evolve it (recorded in ``schema_added``). A
    batch sent in parts is checked part by part and comes out whole."""
    key = source.config.dedupe_key
    seen = pl.Series("key", [], pl.UInt64)
    parts: list[Checked] = []  # a batch sent in parts (``Batch.more``)
    for batch in batches:
        rows = batch.rows
        valid, bad = check(source, batch, schema_added)
        batch.frame, batch.records = None, None  # only the checked rows are kept from here
        duplicates = 0
        if key:
            kept = []
            for part in valid:
                part, dropped, seen = dedupe(part, key, seen)
                kept.append(part)
                duplicates += dropped.height
                bad = pl.concat([bad, dropped], how="diagonal_relaxed")
            valid, kept = kept, []
        part = Checked(batch, [v for v in valid if v.height], bad, rows, duplicates)
        del valid, bad, batch  # the part holds them
        if part.batch.more:
            parts.append(part)
            continue
        out = merged([*parts, part]) if parts else part
        parts, part = [], None
        yield out
        del out  # the consumer's alone now: not held while the next batch is read and checked
    if parts:  # a source that ended inside a batch: commit what it sent
        yield merged(parts)


def merged(parts: list[Checked]) -> Checked:
    """The parts of one batch as one: the last part's cursor, everything else summed."""
    last = parts[-1].batch
    batch = dataclasses.replace(
        last, skipped=sum(p.batch.skipped for p in parts), bytes=sum(p.batch.bytes for p in parts), more=False
    )
    bad = pl.concat([p.bad for p in parts], how="diagonal_relaxed")
    valid = [v for p in parts for v in p.valid]
    return Checked(batch, valid, bad, sum(p.rows for p in parts), sum(p.duplicates for p in parts))


def check(source: Source, batch: Batch, schema_added: list[str]) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """Split a batch into typed valid chunks and quarantine rows; columns the schema lacks evolve
    it or (``schema_mode = "freeze"``) reject the rows holding them."""
    if batch.frame is None:
        checked = source.schema.check_records(batch.records or [], batch.origin, batch.first_row)
        return [checked.valid], checked.bad
    valid: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    # chunks of equal size, at most 1.5 x CHECK_ROWS: a 65,541-row part is one chunk, not one
    # of 65,536 and one of 5 (each chunk costs the same ~100 polars calls whatever its size)
    height = batch.frame.height
    size = -(-height // max(1, round(height / CHECK_ROWS))) if height else 1
    for start in range(0, max(height, 1), size):
        part, rejected = records.rejected(batch.frame.slice(start, size))
        new = unknown_columns(part, source.schema)
        if new and source.config.schema_mode == "evolve":
            source.schema = evolved(source.schema, new)
            schema_added += new
        elif new:
            part, refused = frozen(part, new)
            rejected = refused if rejected is None else pl.concat([rejected, refused], how="diagonal_relaxed")
        result = source.schema.check_frame(part, keep=[c for c in (ORIGIN, ROW) if c in part.columns])
        valid.append(result.valid)
        bad += [b for b in (rejected, result.bad) if b is not None and b.height]
    return valid, pl.concat(bad, how="diagonal_relaxed") if bad else result.bad


def dedupe(
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


_END = object()


def ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each produced in a thread while the consumer uses the previous one (never
    more than that: at most two items exist at once). An error in the producer is raised to the
    consumer; a consumer that stops stops the producer (which closes ``items`` in its own
    thread, so a generator's cleanup runs there)."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        while not stop.is_set():  # start the next item only once the consumer has this one
            if taken.acquire(timeout=0.1):
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
                del item  # not held while the next one is made
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="lakeledger-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            taken.release()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
            item = None  # the consumer is done with it: not held while waiting for the next
    finally:
        stop.set()
        worker.join()
