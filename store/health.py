"""The event log's health, as ``lakeledger doctor`` reports it: every problem with its fix.

Checks read what other readers read: the Delta log json, the data files the snapshot lists and
the raw rows (no deduplication), so a table lakeledger reads fine but DuckDB, polars or Spark
would read wrong is still reported. Nothing here writes.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from .delta import add_actions
from .errors import LedgerError
from .events import KINDS, current_schema_version

if TYPE_CHECKING:
    from .ledger import Ledger

READ_CHECKS = ("table loads", "log readable", "data files", "raw rows")
MAX_LIVE_FILES = 200  # above this, commits and reads slow down measurably (issue 11 item 19)


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str | None = None  # what to do, when not ok


@dataclass
class Health:
    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def readable(self) -> bool:
        """The events can be read in full (views can be compared with a rebuild)."""
        return all(f.ok for f in self.findings if f.check in READ_CHECKS)

    def add(self, check: str, problems: list[str], fix: str, fine: str) -> None:
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            self.findings.append(Finding(check, False, shown, fix))
        else:
            self.findings.append(Finding(check, True, fine))


def examine(ledger: Ledger) -> Health:
    """Check the event log end to end; the views are checked by ``projections.health``."""
    health = Health()
    event_log = ledger.log
    fs, table_path = event_log.files.fs, event_log.files.path
    log_dir = f"{table_path}/_delta_log"

    started = time.perf_counter()
    try:
        table = event_log.refresh()
    except LedgerError as exc:  # the log checks below say which file is to blame
        table = None
        health.findings.append(Finding("table loads", False, str(exc), "see the log check below"))
    health.figures["snapshot_load_ms"] = round((time.perf_counter() - started) * 1000, 1)

    # -- the Delta log: contiguous, every commit file non-empty and parseable ----------------
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(log_dir, detail=False)]
    commits = sorted(int(n[:20]) for n in names if n.endswith(".json") and n[:20].isdigit())
    checkpoint = event_log.files.last_checkpoint()
    version = table.version() if table is not None else max(commits, default=0)
    health.figures["version"] = version
    damaged: list[str] = []
    latencies: list[int] = []
    for v in commits:
        path = f"{log_dir}/{v:020d}.json"
        try:
            text = fs.cat_file(path).decode()
            if not text.strip():
                raise ValueError("the file is empty (a crash before it was written out?)")
            actions = [json.loads(line) for line in text.splitlines() if line.strip()]
        except Exception as exc:  # noqa: BLE001 - any failure to read it is the finding
            damaged.append(f"commit {v} ({path}): {exc}")
            continue
        latencies += _commit_latency(actions)
    gaps = [
        f"commit files {a + 1}..{b - 1} are missing"
        for a, b in itertools.pairwise(commits)
        if b - a > 1 and b > checkpoint  # below the newest checkpoint, json may be cleaned up
    ]
    health.figures["commits_since_checkpoint"] = max(0, version - checkpoint)
    if latencies:
        latencies.sort()
        health.figures["commit_ms_p50"] = latencies[len(latencies) // 2]
        health.figures["commit_ms_p95"] = latencies[min(len(latencies) - 1, len(latencies) * 95 // 100)]
    health.add(
        "log readable",
        damaged + gaps,
        "restore the named files from a backup (or the bucket's versioning); a damaged newest "
        "commit file (a crash before it reached the disk) can only be moved aside, which drops "
        "that commit: re-run the job that wrote it (idempotent appends skip what landed)",
        f"versions {commits[0] if commits else 0}..{version} readable",
    )
    interval = event_log.settings.checkpoint_interval
    health.add(
        "checkpoint",
        [f"{version - checkpoint} commits since the last checkpoint (interval {interval})"]
        if version - checkpoint > 2 * interval
        else [],
        f"every commit replays the log since the last checkpoint: write one now with "
        f"python -c \"from deltalake import DeltaTable; DeltaTable('{event_log.uri}')"
        ".create_checkpoint()\"",
        f"last checkpoint at version {checkpoint}" if checkpoint >= 0 else "no checkpoint needed yet",
    )

    if table is None:
        return health

    # -- data files the snapshot lists ---------------------------------------------------------
    adds = add_actions(table)
    listed = adds["path"].to_list() if adds.height else []
    present = {p.rsplit("/", 1)[-1] for p in fs.find(table_path) if "/_delta_log/" not in p}
    missing = [p for p in listed if p.rsplit("/", 1)[-1] not in present]
    health.figures["live_files"] = len(listed)
    health.figures["live_bytes"] = int(adds["size_bytes"].sum()) if listed else 0
    health.add(
        "data files",
        [f"{table_path}/{p} is listed by the log but missing" for p in missing],
        "restore the missing files from a backup (or the bucket's versioning): the events they "
        "held are not anywhere else. If they are lost for good, "
        f"python -c \"from deltalake import DeltaTable; DeltaTable('{event_log.uri}').repair()\" "
        "removes them from the table so that it reads again",
        f"{len(listed)} live files, all present",
    )
    health.add(
        "live files",
        [f"{len(listed)} live files (more than {MAX_LIVE_FILES})"] if len(listed) > MAX_LIVE_FILES else [],
        "compact the log: python -c \"from lakeledger.store import Ledger, maintenance; "
        f"maintenance.compact(Ledger.open('{ledger.location.root}', create=False).log)\"",
        f"{len(listed)} live files",
    )
    if missing:
        health.findings.append(
            Finding("raw rows", False, "not read: data files are missing", "fix the data files first")
        )
        return health

    # -- raw rows: every event once, every schema version known ----------------------------------
    raw = event_log.scan(dedupe=False) if version > 0 else None
    if raw is None:
        health.add("event ids", [], "", "no events yet")
        health.add("schema versions", [], "", "no events yet")
        return health
    try:
        rows = raw.select("event_id", "kind", "schema_version", "writer_version").collect()
    except Exception as exc:  # noqa: BLE001 - an unreadable data file is the finding
        health.findings.append(
            Finding(
                "raw rows", False, f"the data files cannot be read: {exc}",
                "restore the unreadable file named above from a backup",
            )
        )
        return health
    health.figures["events"] = rows.height
    copies = (
        rows.group_by("event_id").agg(pl.len().alias("n")).filter(pl.col("n") > 1).sort("event_id")
    )
    health.add(
        "event ids",
        [f"event {r['event_id']} is stored {r['n']} times" for r in copies.head(20).to_dicts()]
        + ([f"{copies.height} ids in all"] if copies.height > 20 else []),
        "lakeledger's own reads and views keep the first copy of each id, so they are right; "
        "DuckDB, polars or Spark reading the table directly count every copy: read through "
        "`lakeledger events --json` until the copies are rewritten away",
        f"{rows.height} events, each stored once",
    )
    kinds = rows.group_by("kind", "schema_version").agg(pl.col("writer_version").max())
    unknown = [
        f"{r['kind']} schema {r['schema_version']} (written by lakeledger {r['writer_version']})"
        for r in kinds.sort("kind", "schema_version").to_dicts()
        if not _known(r["kind"], r["schema_version"])
    ]
    health.add(
        "schema versions",
        unknown,
        "these events were written by a newer or foreign lakeledger and read back as raw "
        "events: upgrade lakeledger here to the version named (pip install -U lakeledger)",
        f"{kinds.height} kind/version pairs, all known",
    )
    return health


def _commit_latency(actions: list[dict[str, Any]]) -> list[int]:
    """Milliseconds from the data file written to the commit landing, from the log itself."""
    stamp = next((a["commitInfo"].get("timestamp") for a in actions if "commitInfo" in a), None)
    written = [a["add"].get("modificationTime") for a in actions if "add" in a]
    if stamp is None or not written or None in written:
        return []
    return [max(0, int(stamp) - int(max(written)))]


def _known(kind: str, version: int) -> bool:
    if kind not in KINDS or version > current_schema_version(kind):
        return False
    cls = KINDS[kind]  # upcasters are the class's upcast_v<n>_v<n+1> (see codec.upcast)
    return all(
        hasattr(cls, f"upcast_v{v}_v{v + 1}") for v in range(version, current_schema_version(kind))
    )
