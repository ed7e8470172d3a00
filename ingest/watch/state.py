"""What the ledger already knows about a watched directory, rebuilt from its events.

There is no local state file: the watcher's memory is the ledger itself. On start it reads the
dataset's ``partition.observed``/``partition.removed`` events (the latest checksum of every live
uri under the directory) and the problems it reported before (``validation.recorded`` with
``details.source == "watch"``). So restarts, crashes and several watchers stay consistent:
a (uri, checksum) that is live is never registered again, a reported problem never repeated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import msgspec
from lakeledger.store import Ledger
from lakeledger.store import events as ev
from lakeledger.store.schema import DatasetSchema

SOURCE = "watch"  # details.source of the validation events the watcher writes


class _Partition(msgspec.Struct):
    partition: str = ""
    uri: str | None = None
    checksum: str | None = None


class _Validation(msgspec.Struct):
    check: str = ""
    details: Any = None


@dataclass
class Live:
    partition: str
    checksum: str | None


@dataclass
class WatchState:
    declared: bool = False
    schema: DatasetSchema | None = None
    partition_key: tuple[str, ...] = ()  # columns held by the path, not by the files
    freq: str | None = None
    live: dict[str, Live] = field(default_factory=dict)  # uri -> latest observation
    # (check, uri, checksum) of every problem already reported
    reported: set[tuple[str, str, str | None]] = field(default_factory=set)

    def is_current(self, uri: str, checksum: str) -> bool:
        known = self.live.get(uri)
        return known is not None and known.checksum == checksum

    def under(self, prefixes: tuple[str, ...]) -> list[str]:
        """Live uris equal to or inside any of ``prefixes`` (one pass, for batched deletions)."""
        dirs = tuple(p.rstrip(os.sep) + os.sep for p in prefixes)
        exact = set(prefixes)
        return [u for u in self.live if u in exact or u.startswith(dirs)]


def declaration(ledger: Ledger, dataset: str) -> ev.DatasetDeclared | None:
    """The latest ``dataset.declared`` of ``dataset`` (old schema shapes upcast), if any."""
    found = [e for e in ledger.read(kind="dataset.declared", stream=f"dataset/{dataset}")
             if isinstance(e, ev.DatasetDeclared)]
    return found[-1] if found else None


def apply_declaration(state: WatchState, declared: ev.DatasetDeclared | None) -> None:
    state.declared = declared is not None
    state.schema = declared.schema if declared else None
    state.partition_key = tuple(declared.partition_key) if declared else ()
    state.freq = declared.freq if declared else None


def load_state(ledger: Ledger, dataset: str, root: str) -> WatchState:
    """The state of ``dataset`` as far as files under ``root`` are concerned."""
    state = WatchState()
    inside = root.rstrip(os.sep) + os.sep

    apply_declaration(state, declaration(ledger, dataset))
    rows = (
        ledger.events(kind=["partition.observed", "partition.removed"], stream=f"dataset/{dataset}")
        .select("kind", "payload")
        .collect()
    )
    decoder = msgspec.json.Decoder(_Partition)
    for kind, payload in rows.iter_rows():
        event = decoder.decode(payload)
        if not event.uri or not event.uri.startswith(inside):
            continue
        if kind == "partition.observed":
            state.live[event.uri] = Live(event.partition, event.checksum)
        else:
            state.live.pop(event.uri, None)

    checks = (
        ledger.events(kind="validation.recorded", stream=f"validation/{dataset}")
        .select("payload")
        .collect()
    )
    vdecoder = msgspec.json.Decoder(_Validation)
    for payload in checks["payload"]:
        check = vdecoder.decode(payload)
        details = check.details
        if isinstance(details, dict) and details.get("source") == SOURCE:
            uri = details.get("uri")
            if isinstance(uri, str) and uri.startswith(inside):
                state.reported.add((check.check, uri, details.get("checksum")))
    return state
