"""The landing directory as the watcher sees it: which paths are units, and when they are done.

A *unit* is a data file (Parquet, CSV) or a Delta table directory; hidden and temporary names
and ``_``/``.`` directories (``_temporary``, ``.staging``) are never units. A unit is *pending*
from its first sighting until its signature (size + mtime; for a Delta table the mtime of
``_delta_log``, which changes with every commit) has held for the debounce interval, judged
from the mtime and re-checked with ``stat``. With a marker (``_SUCCESS``), a settled unit also
needs the marker in its directory or above; until then it waits in ``unmarked``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import watchfiles
from lakeledger.ingest.watch.layout import DELTA_LOG, ignored_dir, is_data_file

Signature = tuple[int, ...]


@dataclass
class Pending:
    sig: Signature
    since: float  # wall-clock time from which ``sig`` has held
    incomplete_since: float | None = None  # looked unfinished when inspected (see fileinfo)


class Landing:
    def __init__(self, root: str, *, marker: str | None, debounce_s: float, grace_s: float) -> None:
        self.root = root
        self.marker = marker
        self.debounce_s = debounce_s
        self.grace_s = grace_s
        self.pending: dict[str, Pending] = {}
        self.unmarked: set[str] = set()  # settled, but no marker yet
        self.marked_dirs: set[str] = set()

    def settling(self) -> bool:
        """Whether some pending unit may still become ready soon (not merely unfinished)."""
        return any(p.incomplete_since is None for p in self.pending.values())

    def unit_of(self, path: str) -> str | None:
        """The thing ``path`` belongs to: a data file, its Delta table, a plain directory to
        walk, or nothing (outside the root, hidden, temporary, not data)."""
        rel = os.path.relpath(path, self.root)
        if rel == "." or rel == ".." or rel.startswith(".." + os.sep):
            return None
        parts = rel.split(os.sep)
        here = self.root
        for i, part in enumerate(parts):
            here = os.path.join(here, part)
            if part == DELTA_LOG:
                return os.path.dirname(here)
            if os.path.isdir(os.path.join(here, DELTA_LOG)):
                return here
            if ignored_dir(part) and (i < len(parts) - 1 or os.path.isdir(here)):
                return None
        if os.path.isdir(path):
            return path
        return path if is_data_file(parts[-1]) else None

    def discover(self, top: str) -> None:
        """Make every data file and Delta table at or below ``top`` pending."""
        if top != self.root:
            unit = self.unit_of(top)
            if unit is None:
                return
            if unit != top:
                self.pend(unit)  # inside a Delta table: the table is the unit
                return
        for dirpath, dirnames, filenames in os.walk(top):
            if DELTA_LOG in dirnames:
                self.pend(dirpath)
                dirnames.clear()
                continue
            dirnames[:] = [d for d in dirnames if not ignored_dir(d)]
            if self.marker and self.marker in filenames:
                self.marked_dirs.add(dirpath)
            for name in filenames:
                if is_data_file(name):
                    self.pend(os.path.join(dirpath, name))

    def pend(self, path: str) -> None:
        self.unmarked.discard(path)
        if path in self.pending:
            return
        sig = _signature(path)
        if sig is not None:
            self.pending[path] = Pending(sig, _since(sig))

    def apply(self, changes: Iterable[tuple[watchfiles.Change, str]]) -> list[str]:
        """Fold one batch of OS notifications into the pending set; returns the vanished paths."""
        gone: list[str] = []
        for change, path in sorted(changes, key=lambda c: c[1]):
            name = os.path.basename(path)
            marker = self.marker is not None and name == self.marker
            if not os.path.lexists(path):
                gone.append(path)
                if marker:
                    self.marked_dirs.discard(os.path.dirname(path))
                continue
            if marker:
                self.marked_dirs.add(os.path.dirname(path))
                self.discover(os.path.dirname(path))
            elif os.path.isdir(path) and not os.path.islink(path):
                if change == watchfiles.Change.added:
                    self.discover(path)
            else:
                unit = self.unit_of(path)
                if unit is not None:
                    self.pend(unit)
        for path in gone:
            for p in [p for p in self.pending if p == path or p.startswith(path + os.sep)]:
                del self.pending[p]
            unit = self.unit_of(path)
            if unit is not None and unit != path and os.path.isdir(unit):
                self.pend(unit)  # a file of a Delta table went away: the table changed
        return gone

    def marked(self, path: str) -> bool:
        marker = self.marker
        if marker is None or os.path.isdir(os.path.join(path, DELTA_LOG)):
            return True
        here = os.path.dirname(path)
        while True:
            if here in self.marked_dirs or os.path.exists(os.path.join(here, marker)):
                self.marked_dirs.add(here)
                return True
            if here == self.root or len(here) <= len(self.root):
                return False
            here = os.path.dirname(here)

    def due(self, now: float) -> list[str]:
        """Pending paths whose signature held for the debounce interval (and that are marked),
        oldest first."""
        ready: list[tuple[float, str]] = []
        for path, pend in list(self.pending.items()):
            if now - pend.since < self.debounce_s:
                continue
            sig = _signature(path)
            if sig is None:
                del self.pending[path]
            elif sig != pend.sig:
                self.pending[path] = Pending(sig, _since(sig, now))
            elif (pend.incomplete_since is not None
                  and now - pend.incomplete_since < self.grace_s):
                continue
            elif not self.marked(path):
                del self.pending[path]
                self.unmarked.add(path)
            elif (unit := self.unit_of(path)) != path:
                del self.pending[path]  # a new Delta table's data file, before its first commit
                if unit is not None:
                    self.pend(unit)
            else:
                ready.append((pend.since, path))
        return [path for _, path in sorted(ready)]


def _signature(path: str) -> Signature | None:
    """Size and mtime of a file; for a Delta table, its log directory (a commit adds a file)."""
    try:
        log_dir = os.path.join(path, DELTA_LOG)
        st = os.stat(log_dir) if os.path.isdir(log_dir) else os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _since(sig: Signature, now: float | None = None) -> float:
    """Stable since the last modification (never later than now: clocks may disagree)."""
    now = time.time() if now is None else now
    return min(now, sig[1] / 1e9)
