"""lakeledger's own exception types.

Every error says what happened and what to do about it; the CLI prints them without a
traceback and maps them to stable exit codes (see ``LedgerError.exit_code``). Callers that act
on an error read its fields (``field``, ``value``, ``where``, ``fix``, ``transient``) rather
than parse its text.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error lakeledger raises on purpose."""

    exit_code = 1
    transient = False  # retrying the same call may succeed (only then retry)

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        value: Any = None,
        fix: str | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the input field at fault (``uri``, ``params.layers``...)
        self.value = value  # the offending value, as given
        self.fix = fix  # what to do instead
        self.where = where  # file:line, event kind... where the input came from

    def at(self, where: str) -> LedgerError:
        """The same error located at ``where`` (e.g. ``events.jsonl:3``)."""
        self.where = f"{where}: {self.where}" if self.where else where
        return self

    def __str__(self) -> str:
        text = self.message
        if self.fix and self.fix not in text:
            text = f"{text}; {self.fix}"
        return f"{self.where}: {text}" if self.where else text


class InvalidInput(LedgerError):
    """Bad input from a user or caller: nothing was written."""

    exit_code = 2


class PathEscapeError(InvalidInput):
    """An artifact path would point outside the ledger root."""


class ConcurrencyError(LedgerError):
    """An optimistic-concurrency expectation no longer holds (the invariant really broke)."""

    exit_code = 1


class StorageError(LedgerError):
    """The storage backend failed in a way retries did not fix."""

    exit_code = 1


class NotInitialised(LedgerError):
    """No ledger exists at the given root."""

    exit_code = 2


# -- storage failures, as the Delta door (delta.py) classifies them -------------------------
class CommitConflict(StorageError):
    """Another writer committed the version first: re-prepare on the new snapshot, retry."""

    transient = True


class AlreadyCommitted(LedgerError):
    """The app transaction of this write already landed: nothing to do."""

    exit_code = 0


class TransientStorageError(StorageError):
    """Storage failed in a way that may pass (network, throttling): retry later."""

    transient = True


class StorageConfigError(StorageError):
    """Credentials or storage options are wrong: retrying cannot help; fix the configuration."""

    exit_code = 2
    transient = False


class DamagedLog(StorageError):
    """A commit file of the Delta log is empty or unreadable (written without fsync, then a crash)."""

    transient = False


class LogFileVanished(TransientStorageError):
    """A log file vanished during a load (log cleanup by another writer): load again, from the
    newest checkpoint."""


class ForeignTable(InvalidInput):
    """The Delta table at the path is not the one lakeledger expects there."""


class TableMissing(StorageError):
    """No Delta table at the path."""

    transient = False
