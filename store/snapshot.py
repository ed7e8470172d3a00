"""The table state a commit is prepared on (``log.EventLog.commit`` hands one to ``prepare``).

Reads made here are consistent with the commit: it lands at exactly ``next_version`` or not at
all, so whatever ``prepare`` read still holds when it lands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from . import codec
from .events import Event
from .writerstate import WriterState

if TYPE_CHECKING:
    from .delta import DeltaTable
    from .log import EventLog


class Snapshot:
    """The table state a commit is prepared on; reads here are consistent with the commit.

    The Delta snapshot is brought up to date only if ``prepare`` reads it: a batch that needs
    no check commits at the writer's known version + 1 without touching the log.
    """

    def __init__(self, event_log: EventLog) -> None:
        self._log = event_log
        self.next_version = event_log.known_version + 1
        self._frame: pl.LazyFrame | None = None

    @property
    def table(self) -> DeltaTable:
        table = self._log.current(self.next_version - 1)
        self.next_version = table.version() + 1
        return table

    def state(self, models: Iterable[str] = ()) -> WriterState:
        """The commit rules' state at exactly this snapshot's version, with ``models`` loaded.

        Advanced from the writer's cached state (``writerstate.py``): when nothing but our
        own commits happened since, no read at all; otherwise only the new files are read."""
        state = self._log.state
        if state.version != self.next_version - 1:
            try:
                state.advance(self.table)
            except Exception:  # noqa: BLE001 - a file vanished meanwhile...: rebuild from the snapshot
                state.version = -1
                state.advance(self.table)
        wanted = [m for m in models if m not in state.models]
        if wanted:
            table = self.table
            if table.version() != state.version:
                state.advance(table)
            state.load_models(table, wanted)
        return state

    def scan(self) -> pl.LazyFrame:
        if self.table.version() == 0:
            return empty_frame()
        if self._frame is None:
            self._frame = pl.scan_delta(self.table)
        return self._frame


Prepare = Callable[[Snapshot], Sequence[Event] | codec.Rows]


def empty_frame() -> pl.LazyFrame:
    # from_batches, not SCHEMA.empty_table(): that one imports pandas (~0.5 s in a fresh process)
    return pl.LazyFrame(schema=pl.from_arrow(pa.Table.from_batches([], schema=codec.SCHEMA)).schema)
