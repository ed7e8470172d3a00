"""lakeledger.store: event types, the Delta event log and the Ledger API."""

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
from .ledger import ANY, Ledger, default_root
from .log import Committed, EventLog, LogSettings
from .query import Moment
from .run import Run

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
