"""A Delta table's ``_delta_log`` read directly: file names, listing, one commit's actions.

Part of the Delta door (``delta.py`` imports its names from here). It exists so that a reader
that needs only what commits say (``history.py``: who committed what, when) starts without
deltalake, pyarrow or polars. Local tables are read with ``os``; fsspec is imported only for
remote URIs. Checkpoints are Parquet: they are listed here, never read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from .location import Location, is_uri, local_part

COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
CHECKPOINT_FILE = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


def commit_file(version: int) -> str:
    return f"{version:020d}.json"


class LogUnreadable(Exception):
    """A commit file vanished (log cleanup), is empty or is not JSON Lines: the caller goes the
    way that loads the table (which names the problem or retries)."""


@dataclass(frozen=True)
class LogListing:
    """What ``_delta_log`` holds: commit versions (ascending) with their sizes, checkpoints."""

    sizes: dict[int, int]
    checkpoint: int  # newest checkpoint version, -1 when none

    @property
    def versions(self) -> list[int]:
        return sorted(self.sizes)


class LogFiles:
    """The ``_delta_log`` directory of the table at ``uri``."""

    def __init__(self, uri: str, options: dict[str, str] | None = None) -> None:
        self.remote = is_uri(uri)
        if self.remote:
            from .storage import filesystem  # fsspec: remote tables only

            self.fs, table = filesystem(Location.of(uri, options), uri)
            self.dir = f"{table.rstrip('/')}/_delta_log"
        else:
            self.fs = None
            self.dir = os.path.join(local_part(uri), "_delta_log")

    def listing(self) -> LogListing | None:
        """None when there is no ``_delta_log`` (no table)."""
        try:
            if self.fs is None:
                with os.scandir(self.dir) as entries:
                    found = [(e.name, e.stat().st_size) for e in entries]
            else:
                self.fs.invalidate_cache(self.dir)  # a listing cached by an earlier call is stale
                found = [(e["name"].rstrip("/").rsplit("/", 1)[-1], int(e.get("size") or 0))
                         for e in self.fs.ls(self.dir, detail=True)]
        except FileNotFoundError:
            return None
        sizes = {int(m.group(1)): size for name, size in found if (m := COMMIT_FILE.match(name))}
        checkpoints = [int(m.group(1)) for name, _ in found if (m := CHECKPOINT_FILE.match(name))]
        return LogListing(sizes, max(checkpoints, default=-1))

    def actions(self, version: int) -> list[dict[str, Any]]:
        """The actions of commit ``version``, one dict per line (``{"add": {...}}``...)."""
        try:
            if self.fs is None:
                with open(os.path.join(self.dir, commit_file(version)), "rb") as f:
                    body = f.read()
            else:
                body = self.fs.cat_file(f"{self.dir}/{commit_file(version)}")
        except FileNotFoundError:
            raise LogUnreadable(f"commit {version} vanished (log cleanup)") from None
        try:
            actions = [msgspec.json.decode(line) for line in body.splitlines() if line.strip()]
        except msgspec.DecodeError as exc:
            raise LogUnreadable(f"commit {version} is not JSON Lines ({exc})") from None
        if not actions or not all(isinstance(a, dict) for a in actions):
            raise LogUnreadable(f"commit {version} holds no actions")
        return actions
