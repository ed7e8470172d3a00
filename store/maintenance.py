"""Log management: keep commit latency flat however many commits the ledger has seen.

Every ``checkpoint_interval`` versions the writer that landed that version writes a checkpoint
(delta-rs' ``create_checkpoint``), and the log json and checkpoints behind it are deleted once
they are older than both retentions: ``keep_log_versions`` versions and ``keep_log_hours``
hours. What is kept is whole: deletion stops at a checkpoint, so any version from that
checkpoint on can be read by any Delta reader (DuckDB ``delta_scan(..., version => N)``,
polars, Spark). Rows carry their own commit version, so lakeledger's own reads need none of
the deleted history. Small files are compacted (``data_change=false``) and old ones vacuumed
on a fixed cadence of versions, by whichever writer lands that version.

All of it runs after the append returned (``Maintainer``: one background thread per log, with
its own snapshot), never on the caller's return path: a checkpoint on a 1M-event log took tens
of milliseconds inside every 10th append (the p99 spikes of issue 15).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .log import EventLog

log = logging.getLogger("lakeledger.store")
_LOG_FILE = re.compile(r"^(\d{20})\.(json|crc|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


def due(event_log: EventLog, version: int) -> list[str]:
    """The maintenance tasks landing ``version`` makes due (a fixed cadence of versions)."""
    s = event_log.settings
    tasks = []
    if version % s.checkpoint_interval == 0:
        tasks.append("checkpoint")
    if version % s.compact_every == s.compact_every // 2:
        tasks.append("compact")
    if version % s.vacuum_every == s.vacuum_every // 2 + 1:
        tasks.append("vacuum")
    return tasks


def after_commit(event_log: EventLog, version: int, tasks: list[str] | None = None) -> None:
    """Run the maintenance due at ``version`` now (``Maintainer`` calls it in the background)."""
    s = event_log.settings
    tasks = due(event_log, version) if tasks is None else tasks
    if "checkpoint" in tasks:
        checkpoint(event_log, version)
        # below the *previous* checkpoint too: a reader that just started loading from it
        # gets a whole interval of commits to finish
        cleanup_log(event_log, version - s.keep_log_versions, s.checkpoint_interval)
    if "compact" in tasks:
        compact(event_log)
    if "vacuum" in tasks:
        vacuum(event_log)


class Maintainer:
    """Runs a log's due maintenance after the commit returned, on one background thread.

    The thread works on its own ``EventLog`` (its own Delta snapshot), so it never shares
    state with the appending thread: a compaction it commits is, to the appender, one more
    concurrent writer (its next commit conflicts once and is prepared again). Requests that
    pile up while it is busy are merged (checkpoints kept, written in order). At exit the
    pending work is finished (bounded), as it was when maintenance ran inline.
    """

    def __init__(self, event_log: EventLog) -> None:
        self._source = event_log
        self._own: EventLog | None = None
        self._cond = threading.Condition()
        self._pending: dict[str, int] = {}
        self._checkpoints: list[int] = []
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, version: int) -> None:
        tasks = due(self._source, version)
        if not tasks:
            return
        with self._cond:
            for task in tasks:
                if task == "checkpoint":  # each one: cleanup cuts only at a checkpoint file
                    self._checkpoints.append(version)
                self._pending[task] = max(self._pending.get(task, -1), version)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lakeledger-maintenance",
                                                daemon=True)
                self._thread.start()
                _RUNNING.add(self)
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _checkpoint(self, versions: list[int]) -> None:
        """Each requested checkpoint in order: log cleanup cuts only at a checkpoint file, so a
        skipped one lets the log grow. Only as many as the kept log spans are worth writing."""
        s = self._source.settings
        assert self._own is not None
        for version in sorted(set(versions))[-(s.keep_log_versions // s.checkpoint_interval + 1):]:
            after_commit(self._own, version, ["checkpoint"])

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: bool(self._pending), timeout=5.0):
                    self._thread = None  # idle: end; the next submit starts another
                    return
                work, self._pending = self._pending, {}
                checkpoints, self._checkpoints = self._checkpoints, []
                self._busy = True
            try:
                if self._own is None:
                    settings = dataclasses.replace(self._source.settings, auto_maintain=False)
                    self._own = type(self._source)(self._source.location, settings)
                    self._own.pace = self._source.yield_to_appends  # each step between appends
                self._checkpoint(checkpoints)
                if "compact" in work:
                    done = compact(self._own)
                    # the compaction took a version: if a checkpoint is due there, nobody
                    # else will write it (measured: the log then grew past its bound); the ones
                    # requested meanwhile go first (an older one is skipped after a newer one)
                    if done is not None and "checkpoint" in due(self._own, done["version"]):
                        with self._cond:
                            queued, self._checkpoints = self._checkpoints, []
                        self._checkpoint([*queued, done["version"]])
                if "vacuum" in work:
                    vacuum(self._own)
            except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
                log.info("maintenance skipped: %s", exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


_RUNNING: weakref.WeakSet[Maintainer] = weakref.WeakSet()


@atexit.register
def _finish() -> None:
    for maintainer in list(_RUNNING):
        maintainer.wait(timeout=60.0)


def checkpoint(event_log: EventLog, version: int) -> None:
    """Write the checkpoint at ``version`` (or a later one) unless a newer one exists."""
    try:
        last = event_log.files.last_checkpoint()
        if last >= version:
            return
        event_log.files.verify(last + 1, version)  # never bake a damaged commit into a checkpoint
        event_log.pace()
        # a table loaded for this very version: an incrementally updated one may have missed
        # commits cleaned up during its update, and a checkpoint would make that loss permanent
        table = event_log.files.load(version)
        event_log.pace()
        if event_log.files.last_checkpoint() >= version:
            # a newer checkpoint landed while we loaded (and its cleanup may have let a stale
            # writer re-create a version we just read): ours would only be stale
            return
        event_log.files.checkpoint(table)
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("checkpoint skipped: %s", event_log.location.redact(str(exc)))


def compact(event_log: EventLog) -> dict[str, int] | None:
    """Best effort: a failure just skips this round (see ``compaction.py``)."""
    from .compaction import compact as run

    try:
        return run(event_log)
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("compaction skipped: %s", event_log.location.redact(str(exc)))
        return None


def vacuum(event_log: EventLog) -> list[str]:
    try:
        event_log.pace()
        table = event_log.refresh()
        event_log.pace()
        return table.vacuum(
            retention_hours=event_log.settings.vacuum_retention_hours,
            enforce_retention_duration=False,
            dry_run=False,
        )
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("vacuum skipped: %s", event_log.location.redact(str(exc)))
        return []


def cleanup_log(event_log: EventLog, below: int, margin: int = 0) -> int:
    """Delete Delta log files of versions < ``below``, older than ``keep_log_hours`` and older
    than the newest checkpoint (minus ``margin``), stopping at a checkpoint.

    Bounded by ``_last_checkpoint``: if a checkpoint failed to be written, the json since the
    previous one is still needed to load the table, so it stays. Bounded by a checkpoint file:
    the oldest version kept always has one, so time travel to any kept version works.
    """
    try:
        files = event_log.files
        fs, path = files.fs, f"{files.path}/_delta_log"
        below = min(below, files.last_checkpoint() - margin)
        if below <= 0:
            return 0
        event_log.pace()
        named = []
        checkpoints = []
        for name, entry in _listing(files.local, fs, path):
            m = _LOG_FILE.match(name)
            if m:
                named.append((int(m.group(1)), entry))
            c = _CHECKPOINT.match(name)
            if c:
                checkpoints.append(int(c.group(1)))
        kept_from = max((c for c in checkpoints if c <= below), default=0)
        # never past the *previous* checkpoint file: a writer that loaded from it (or whose
        # snapshot lies between it and the newest) still needs the json after it
        newest_two = sorted(set(checkpoints))[-2:]
        kept_from = min(kept_from, newest_two[0] if len(newest_two) == 2 else 0)
        hours = event_log.settings.keep_log_hours
        if hours > 0:
            cutoff = time.time() - hours * 3600
            young = [v for v, e in named if _mtime(e) > cutoff]
            if young:
                oldest_young = min(young)
                kept_from = min(kept_from, max((c for c in checkpoints if c <= oldest_young), default=0))
        doomed = [e["name"] for v, e in named if v < kept_from]
        if doomed:
            event_log.pace()
            if files.local:  # one unlink each; fsspec's rm walks each path in Python first
                for doomed_path in doomed:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(doomed_path)
            else:
                fs.rm(doomed)
        return len(doomed)
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("log cleanup skipped: %s", event_log.location.redact(str(exc)))
        return 0


def last_checkpoint(event_log: EventLog) -> int:
    """Version of the newest checkpoint, -1 when there is none yet."""
    return event_log.files.last_checkpoint()


def _listing(local: bool, fs: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(file name, entry with ``name`` and ``mtime``) of each file in the log directory. Local:
    one ``scandir`` (fsspec's detailed ``ls`` stats each file in Python: GIL time the appender
    waits for, as this runs beside it)."""
    if local:
        with os.scandir(path) as entries:
            return [(e.name, {"name": e.path, "mtime": e.stat().st_mtime}) for e in entries]
    return [(e["name"].rstrip("/").rsplit("/", 1)[-1], e) for e in fs.ls(path, detail=True)]


def _mtime(entry: dict[str, object]) -> float:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("created") or 0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)  # type: ignore[arg-type]
