"""Log management: keep commit latency flat however many commits the ledger has seen.

Measured here with deltalake 1.6: a commit's cost grows with the number of files in
``_delta_log`` (~6 ms at 100, ~58 ms at 1,000 without cleanup) and with live small data files.
So every ``checkpoint_interval`` versions delta-rs writes a checkpoint and we delete the log
json older than ``keep_log_versions`` behind it (by count: a time-based retention lets the log
grow without bound at high commit rates). Rows carry their own commit version, so no read
needs the deleted history. Small files are compacted (``data_change=false``) and old ones
vacuumed on a fixed cadence of versions, by whichever writer lands that version.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .log import EventLog

log = logging.getLogger("lakeledger.store")
_LOG_FILE = re.compile(r"^(\d{20})\.(json|crc|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


def after_commit(event_log: EventLog, version: int) -> None:
    s = event_log.settings
    if version % s.checkpoint_interval == 0:
        # below the *previous* checkpoint too: a reader that just started loading from it
        # gets a whole interval of commits to finish
        cleanup_log(event_log, version - s.keep_log_versions, s.checkpoint_interval)
    if version % s.compact_every == s.compact_every // 2:
        compact(event_log)
    if version % s.vacuum_every == s.vacuum_every // 2 + 1:
        vacuum(event_log)


def compact(event_log: EventLog) -> dict[str, int] | None:
    """Best effort: a conflict or failure just skips this round (see ``compaction.py``)."""
    from .compaction import compact as run

    try:
        return run(event_log)
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("compaction skipped: %s", event_log.location.redact(str(exc)))
        return None


def vacuum(event_log: EventLog) -> list[str]:
    try:
        table = event_log.refresh()
        return table.vacuum(
            retention_hours=event_log.settings.vacuum_retention_hours,
            enforce_retention_duration=False,
            dry_run=False,
        )
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("vacuum skipped: %s", event_log.location.redact(str(exc)))
        return []


def cleanup_log(event_log: EventLog, below: int, margin: int = 0) -> int:
    """Delete Delta log files of versions < ``below`` and older than the newest checkpoint.

    Bounded by ``_last_checkpoint``: if delta-rs failed to write a checkpoint, the json since
    the previous one is still needed to load the table, so it stays.
    """
    try:
        fs, table_path = event_log.fs
        path = f"{table_path}/_delta_log"
        below = min(below, last_checkpoint(event_log) - margin)
        if below <= 0:
            return 0
        doomed = []
        for entry in fs.ls(path, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            m = _LOG_FILE.match(name)
            if m and int(m.group(1)) < below:
                doomed.append(entry)
        if doomed:
            fs.rm(doomed)
        return len(doomed)
    except Exception as exc:  # noqa: BLE001 - maintenance never fails an append
        log.info("log cleanup skipped: %s", event_log.location.redact(str(exc)))
        return 0


def last_checkpoint(event_log: EventLog) -> int:
    """Version of the newest checkpoint, -1 when there is none yet."""
    fs, table_path = event_log.fs
    try:
        with fs.open(f"{table_path}/_delta_log/_last_checkpoint", "rb") as f:
            return int(json.loads(f.read())["version"])
    except FileNotFoundError:
        return -1


def committed_behind_checkpoint(event_log: EventLog, version: int) -> bool:
    """True if a checkpoint newer than ``version`` exists: our commit is not in it.

    A checkpoint equal to ``version`` is our own commit's. A newer one cannot have been built
    without ``version``'s file unless that file had been cleaned up, which is only possible
    when a writer stalled for longer than ``keep_log_versions`` commits between loading its
    snapshot and committing (its version file had been cleaned up and re-created).
    """
    return last_checkpoint(event_log) > version
