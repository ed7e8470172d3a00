"""Who wrote an event: user, host, pid and lakeledger version, stamped by the store at commit."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def lakeledger_version() -> str:
    try:
        return version("lakeledger")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


@dataclass(frozen=True)
class Writer:
    user: str
    host: str
    pid: int
    version: str

    @classmethod
    def current(cls) -> Writer:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            user = os.environ.get("USER", "unknown")
        return cls(
            user=user, host=socket.gethostname(), pid=os.getpid(), version=lakeledger_version()
        )
