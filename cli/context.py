"""What every command needs from the shared options: the ledger named by ``--root``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakeledger.store.errors import InvalidInput
from lakeledger.store.location import Location

if TYPE_CHECKING:
    from lakeledger.store import Ledger


def storage_options(pairs: Sequence[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--storage-option {pair.split('=')[0]!r} must be KEY=VALUE")
        options[key] = value
    return options


def open_ledger(args: argparse.Namespace, *, create: bool = False) -> Ledger:
    """The ledger named by ``--root``/``LAKELEDGER_ROOT``; read commands never create one."""
    from lakeledger.store import Ledger  # the data libraries: only for commands that open it

    return Ledger.open(args.root, storage_options(args.storage_option), create=create)


def location(args: argparse.Namespace) -> Location:
    """Where ``--root`` points, for commands that read the ledger's files without opening it."""
    return Location.of(args.root, storage_options(args.storage_option))
