"""The commit history (``lakeledger history``) answered from the Delta log's commit files.

The history is defined by the rows: one entry per version that wrote events, with its time,
writer, count and kinds (``Ledger.history`` computes it from every row). Reading every row to
show the newest commit is what made ``history --limit 1`` slow, so each append commit also
carries that entry, computed from the very rows it commits, in its ``commitInfo`` (key
``SUMMARY_KEY``, ``summary``). ``newest`` reads the newest commit files only, with no data
library; when the files cannot tell (a commit written before summaries existed or by a foreign
writer, json cleaned up behind a checkpoint, an empty or vanished file) it answers None and the
caller reads the rows, so the answer is always the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from .deltalog import LogFiles, LogUnreadable
from .location import Location

if TYPE_CHECKING:
    import pyarrow as pa

SUMMARY_KEY = "lakeledger.commit"
EVENTS_KEY = "lakeledger.events"
TABLE_NAME = "lakeledger_events"  # the event table's Delta name (log.py checks it on load)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Summary(msgspec.Struct, frozen=True):
    recorded_at: int  # microseconds since the epoch, as the rows hold it
    user: str | None
    host: str | None
    pid: int | None
    kinds: list[str]


def summary(data: pa.Table) -> str:
    """The history entry of a commit of ``data`` (rows encoded by ``codec.encode``)."""
    first = data.slice(0, 1)
    return msgspec.json.encode(
        _Summary(
            recorded_at=first.column("recorded_at")[0].value,
            user=first.column("writer_user")[0].as_py(),
            host=first.column("writer_host")[0].as_py(),
            pid=first.column("writer_pid")[0].as_py(),
            kinds=sorted(data.column("kind").unique().to_pylist()),
        )
    ).decode()


def newest(location: Location, limit: int | None) -> list[dict[str, Any]] | None:
    """The newest ``limit`` (None: all) commits that wrote events, newest first, as
    ``Ledger.history`` rows; None when the commit files alone cannot tell."""
    files = LogFiles(location.join("events"), location.options)
    listing = files.listing()
    if listing is None:
        return None  # no table: opening the ledger says what to do
    versions = listing.versions
    if not versions or versions != list(range(versions[0], versions[-1] + 1)):
        return None
    if any(listing.sizes[v] == 0 for v in versions if v > listing.checkpoint) and not files.remote:
        return None  # a damaged commit: loading the log names it and the fix
    rows: list[dict[str, Any]] = []
    try:
        for version in reversed(versions):
            row = _row(version, files.actions(version))
            if row is not None:
                rows.append(row)
                if len(rows) == limit:
                    return rows
        # walked to the oldest json: the answer is complete only if that is the table's start
        if versions[0] != 0 or not _is_ours(files.actions(0)):
            return None
    except (LogUnreadable, _CannotTell):
        return None
    return rows


class _CannotTell(Exception):
    """A commit wrote rows its commitInfo does not describe: only the rows can tell."""


def _row(version: int, actions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The history row of one commit, None if it wrote no events (``_CannotTell``: unknown)."""
    info: dict[str, Any] = {}
    wrote = False
    for action in actions:
        if "commitInfo" in action:
            info = action["commitInfo"] or {}
        for kind in ("add", "remove"):
            body = action.get(kind)
            if isinstance(body, dict) and body.get("dataChange", True):
                wrote = True  # rows added (a remove with data change: rows gone, not ours)
    if not wrote:
        return None  # table creation, compaction, metadata: no events written
    if not isinstance(info.get(SUMMARY_KEY), str) or not str(info.get(EVENTS_KEY, "")).isdigit():
        raise _CannotTell(f"commit {version} has no history entry")
    if any("remove" in a for a in actions):
        raise _CannotTell(f"commit {version} removed rows")
    try:
        s = msgspec.json.decode(info[SUMMARY_KEY], type=_Summary)
    except msgspec.DecodeError:
        raise _CannotTell(f"commit {version}: unreadable history entry") from None
    return {
        "version": version,
        "recorded_at": _EPOCH + timedelta(microseconds=s.recorded_at),
        "user": s.user,
        "host": s.host,
        "pid": s.pid,
        "events": int(info[EVENTS_KEY]),
        "kinds": s.kinds,
        "operation": "APPEND",
    }


def _is_ours(actions: list[dict[str, Any]]) -> bool:
    meta = next((a["metaData"] for a in actions if isinstance(a.get("metaData"), dict)), {})
    return meta.get("name") == TABLE_NAME
