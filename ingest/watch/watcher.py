"""The watcher: turn every complete file landing under a directory into a ledger event.

A path goes through three steps:
1. discovered (catch-up walk on start, or a ``watchfiles`` change): it becomes *pending* with
   its signature (size + mtime; for a Delta table the mtime of ``_delta_log``);
2. settled: once the signature has not changed for ``debounce_s`` (and, with a marker, once
   a ``_SUCCESS``-like marker exists in its directory or above), it is *ready*;
3. inspected and decided: ``partition.observed`` when its (uri, checksum) is not the live one,
   ``validation.recorded`` for a schema that differs from the declared one or an unreadable
   file; a vanished uri gives ``partition.removed``.
Events of one round are committed together (one Delta commit), so a 10k-file catch-up costs a
few commits, and a stop request is honoured between rounds: nothing is ever half-recorded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import watchfiles
from lakeledger.ingest.watch.fileinfo import FileInfo, IncompleteFile, UnreadableFile, inspect
from lakeledger.ingest.watch.landing import Landing, Pending
from lakeledger.ingest.watch.state import SOURCE, Live, WatchState, apply_declaration, declaration, load_state
from lakeledger.store import Ledger, LedgerError
from lakeledger.store import events as ev
from lakeledger.store.partitions import Layout, hive_pairs, partition_of
from lakeledger.store.schema import differences

log = logging.getLogger("lakeledger.watch")
SCHEMA_REFRESH_S = 10.0  # a re-declared dataset schema applies to files judged after this
Outcome = FileInfo | UnreadableFile | None  # None: the path vanished meanwhile


class WatchError(LedgerError):
    """The directory cannot be watched (gone, not permitted, OS watch limits)."""


@dataclass(frozen=True)
class WatchOptions:
    dataset: str
    layout: Layout = "auto"
    marker: str | None = None  # e.g. "_SUCCESS": data counts only below a directory holding it
    debounce_s: float = 1.0
    grace_s: float = 30.0  # how long an unfinished-looking file may stay so before it is reported
    force_polling: bool = False
    batch_size: int = 1000
    workers: int = 4


class Watcher:
    def __init__(
        self,
        ledger: Ledger,
        directory: str,
        options: WatchOptions,
        *,
        stop: threading.Event | None = None,
        on_commit: Callable[[Sequence[ev.Event]], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.root = os.path.realpath(directory)
        self.options = options
        self.stop = stop or threading.Event()
        self.on_commit = on_commit
        self.state: WatchState = load_state(ledger, options.dataset, self.root)
        self._schema_read = time.monotonic()
        self.landing = Landing(self.root, marker=options.marker, debounce_s=options.debounce_s,
                               grace_s=options.grace_s)
        self.outbox: list[ev.Event] = []
        self.counts: Counter[str] = Counter()

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> Counter[str]:
        """Catch up, then follow changes until ``stop`` is set (``once``: until settled)."""
        if once:
            self.catch_up()
            while not self.stop.is_set() and self.landing.settling():
                self.stop.wait(self._tick_s())
                self.settle()
            self.commit()
            return self.counts
        tick_ms = int(self._tick_s() * 1000)
        changes_seen = watchfiles.watch(
            self.root, watch_filter=None, debounce=max(tick_ms, 50), step=20, rust_timeout=tick_ms,
            yield_on_timeout=True, stop_event=self.stop, raise_interrupt=False,
            force_polling=self.options.force_polling,
        )
        first = True
        while True:
            try:
                changes = next(changes_seen)
            except StopIteration:
                break
            except (OSError, RuntimeError) as exc:  # no such directory, inotify limit, ...
                self.commit()
                raise WatchError(
                    f"cannot watch {self.root}: {exc}; on network file systems or when the "
                    "inotify watch limit is reached, use --poll (or raise "
                    "fs.inotify.max_user_watches)"
                ) from None
            if first:  # the OS watch is in place now: nothing landing from here on is missed
                self.catch_up()
                first = False
            self.apply(changes)
            self.settle()
            self.commit()
            if self.stop.is_set():
                break
        self.commit()
        return self.counts

    def _tick_s(self) -> float:
        return min(0.2, max(0.02, self.options.debounce_s / 5))

    def catch_up(self) -> None:
        """Register what landed while no watcher ran; remove what vanished meanwhile."""
        self.landing.discover(self.root)
        self._removed([u for u in self.state.live if not os.path.lexists(u)])
        self.settle()
        self.commit()

    def apply(self, changes: Iterable[tuple[watchfiles.Change, str]]) -> None:
        gone = self.landing.apply(changes)
        if gone:
            self._removed([u for u in self.state.under(tuple(gone)) if not os.path.lexists(u)])

    # -- settling and deciding ---------------------------------------------------------------
    def settle(self) -> None:
        """Inspect every pending unit that has been stable for the debounce interval."""
        now = time.time()
        ready = self.landing.due(now)
        if not ready:
            return
        if time.monotonic() - self._schema_read > SCHEMA_REFRESH_S:
            self._refresh_schema()
        size = self.options.batch_size
        with ThreadPoolExecutor(max_workers=self.options.workers) as pool:
            for start in range(0, len(ready), size):
                if start and self.stop.is_set():
                    break  # the rest stays pending: the next start catches it up
                chunk = ready[start : start + size]
                for path, outcome in zip(chunk, pool.map(_inspect, chunk), strict=True):
                    self.decide(path, outcome, now)
                self.commit()

    def _refresh_schema(self) -> None:
        self._schema_read = time.monotonic()
        try:
            declared = declaration(self.ledger, self.options.dataset)
        except Exception as exc:  # noqa: BLE001 - a storage hiccup: keep judging by the schema we have
            log.warning("could not re-read the declared schema (keeping the previous one): %s", exc)
            return
        apply_declaration(self.state, declared)

    def decide(self, path: str, outcome: Outcome, now: float) -> None:
        pend = self.landing.pending.pop(path, None)
        if outcome is None:
            self._removed([path] if path in self.state.live else [])
            return
        if isinstance(outcome, IncompleteFile):
            first = pend.incomplete_since if pend and pend.incomplete_since is not None else now
            if now - first < self.options.grace_s and pend is not None:
                self.landing.pending[path] = Pending(pend.sig, pend.since, first)
                return
        rel = os.path.relpath(path, self.root)
        partition = partition_of(rel, self.options.layout, is_dir=os.path.isdir(path),
                                 freq=self.state.freq)
        if isinstance(outcome, UnreadableFile):
            reason = outcome.reason
            if isinstance(outcome, IncompleteFile):
                reason += f"; unchanged for {self.options.grace_s:g}s"
            self._report("readable", path, outcome.checksum, reason, partition=partition)
            self._removed([path] if path in self.state.live else [])  # its content is gone
            return
        info = outcome
        if self.state.is_current(path, info.checksum):
            self.counts["unchanged"] += 1
            return
        if partition is None:
            self._report(
                "partition_value", path, info.checksum, severity="warning",
                reason=f"no partition value in {rel!r} for layout {self.options.layout!r}; use "
                "key=value directories (hive) or a date in the name (date-name)",
            )
            return
        self._emit(ev.PartitionObserved(
            dataset=self.options.dataset, partition=partition, uri=path, rows=info.rows,
            bytes=info.bytes, checksum=info.checksum, schema_hash=info.schema_hash,
        ))
        self.state.live[path] = Live(partition, info.checksum)
        self.counts["observed"] += 1
        if self.state.schema is not None:
            # partition columns live in the path (hive) or the table's partitioning: not judged
            keys = {*self.state.partition_key, *(k for k, _ in hive_pairs(rel.split(os.sep)))}
            expected, observed = self.state.schema.without(keys), info.schema.without(keys)
            diff = differences(expected, observed, check_types=info.types_reliable)
            if diff:
                self._report("schema", path, info.checksum, "schema differs from the declared one",
                             partition=partition, observed=observed.types, expected=expected.types,
                             **diff)

    def _report(self, check: str, uri: str, checksum: str | None, reason: str, *,
                severity: ev.Severity = "error", partition: str | None = None,
                observed: object = None, expected: object = None, **extra: object) -> None:
        key = (check, uri, checksum)
        if key in self.state.reported:
            return
        self.state.reported.add(key)
        details = {"source": SOURCE, "uri": uri, "checksum": checksum, "partition": partition,
                   "reason": reason, **extra}
        self._emit(ev.ValidationRecorded(
            target=self.options.dataset, check=check, severity=severity, passed=False,
            observed=observed, expected=expected, details=details,
        ))
        self.counts["problems"] += 1

    def _removed(self, uris: list[str]) -> None:
        for uri in uris:
            live = self.state.live.pop(uri, None)
            if live is not None:
                self._emit(ev.PartitionRemoved(dataset=self.options.dataset,
                                               partition=live.partition, uri=uri))
                self.counts["removed"] += 1

    def _emit(self, event: ev.Event) -> None:
        self.outbox.append(event)

    def commit(self) -> None:
        """Commit the round's events at once. On failure they are kept and retried next round."""
        if not self.outbox:
            return
        batch = list(self.outbox)
        try:
            self.ledger.append(batch, check_ids=False)
        except LedgerError as exc:
            self.counts["commit_failures"] += 1
            log.error("could not record %d events (kept, retrying): %s", len(batch), exc)
            return
        del self.outbox[: len(batch)]
        if self.on_commit is not None:
            self.on_commit(batch)


def _inspect(path: str) -> Outcome:
    try:
        return inspect(path)
    except FileNotFoundError:
        return None
    except UnreadableFile as exc:
        return exc
    except OSError as exc:  # permissions, I/O errors: reported, the watcher goes on
        return UnreadableFile(path, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - one strange file must never stop the watcher
        return UnreadableFile(path, f"cannot read: {type(exc).__name__}: {exc}")
