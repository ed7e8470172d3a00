"""Who wrote an event: user, host, pid and lakeledger version, stamped by the store at commit."""

from __future__ import annotations

import os
from dataclasses import dataclass

# The one place the version is written: pyproject reads it (``[tool.setuptools.dynamic]``), the
# facade exports it as ``lakeledger.__version__``, the CLI prints it, every event records it.
VERSION = "0.2.0"


def lakeledger_version() -> str:
    return VERSION


@dataclass(frozen=True)
class Writer:
    user: str
    host: str
    pid: int
    version: str

    @classmethod
    def current(cls) -> Writer:
        import getpass  # here, not at import: the CLI's start reads VERSION from this module
        import socket

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            user = os.environ.get("USER", "unknown")
        return cls(
            user=user, host=socket.gethostname(), pid=os.getpid(), version=lakeledger_version()
        )
