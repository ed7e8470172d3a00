"""lakeledger's own exception types.

Every error says what happened and what to do about it; the CLI prints them without a
traceback and maps them to stable exit codes (see ``LedgerError.exit_code``).
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error lakeledger raises on purpose."""

    exit_code = 1


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
