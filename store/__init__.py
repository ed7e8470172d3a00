"""lakeledger.store: event types, the Delta event log and the Ledger API.

Every name loads on first use: importing a light part (``errors``, ``location``) or starting
the CLI must not pay for the data libraries (deltalake, pyarrow, polars) or msgspec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        ConcurrencyError,
        InvalidInput,
        LedgerError,
        NotInitialised,
        PathEscapeError,
        StorageError,
    )
    from .events import KINDS, AnyEvent, Event, RawEvent
    from .hashing import HashableConfig, config_hash
    from .ledger import Ledger
    from .location import default_root
    from .log import Committed, EventLog, LogSettings
    from .query import Moment
    from .recording import ANY
    from .run import Run

# name -> the module defining it, imported on first access
_LAZY = {
    "ConcurrencyError": "errors",
    "InvalidInput": "errors",
    "LedgerError": "errors",
    "NotInitialised": "errors",
    "PathEscapeError": "errors",
    "StorageError": "errors",
    "KINDS": "events",
    "AnyEvent": "events",
    "Event": "events",
    "RawEvent": "events",
    "HashableConfig": "hashing",
    "config_hash": "hashing",
    "ANY": "recording",
    "Ledger": "ledger",
    "default_root": "location",
    "Committed": "log",
    "EventLog": "log",
    "LogSettings": "log",
    "Moment": "query",
    "Run": "run",
}



def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ANY",
    "KINDS",
    "AnyEvent",
    "Committed",
    "ConcurrencyError",
    "Event",
    "EventLog",
    "HashableConfig",
    "InvalidInput",
    "Ledger",
    "LedgerError",
    "LogSettings",
    "Moment",
    "NotInitialised",
    "PathEscapeError",
    "RawEvent",
    "Run",
    "StorageError",
    "config_hash",
    "default_root",
]
