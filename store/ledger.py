"""The Ledger: the one object producers and readers use.

``append`` is durable (one atomic commit); ``emit`` goes through the group-commit buffer and
is durable after ``flush``/``close``. The typed writers (one builder per event kind) are in
``recording.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import polars as pl

from . import events as ev
from . import lifecycle
from .admission import admit
from .buffer import BufferedWriter
from .codec import Rows
from .invariants import apply_model_rules, dedupe
from .location import Location, default_root
from .log import Committed, EventLog, LogSettings, Snapshot
from .query import AsOf, filter_events
from .recording import Recording

if TYPE_CHECKING:
    from .subscription import Subscription


class Ledger(Recording):
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
