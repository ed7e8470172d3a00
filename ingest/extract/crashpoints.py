"""Crash-test hook of the runner: stop at a named point so a test can SIGKILL the process there.

``LAKELEDGER_INGEST_PAUSE=<point>:<batch>`` (points: ``after-quarantine``, ``after-bronze``,
``after-checkpoint``) makes the process write its pid to ``LAKELEDGER_INGEST_PAUSE_FILE`` and wait
until that file is removed (or it is killed). Unset, it costs one environment lookup.
"""

from __future__ import annotations

import os
import time

from lakeledger.store.errors import StorageError

PAUSE_ENV = "LAKELEDGER_INGEST_PAUSE"  # "<point>:<batch>": stop there (crash tests)
PAUSE_FILE_ENV = "LAKELEDGER_INGEST_PAUSE_FILE"  # written with the pid when paused


def pause(point: str, batch: int) -> None:
    """Crash-test hook: with ``LAKELEDGER_INGEST_PAUSE=<point>:<batch>`` the process writes its
    pid to ``LAKELEDGER_INGEST_PAUSE_FILE`` and waits there until that file is removed (or it
    is killed)."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or wanted != f"{point}:{batch}":
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if not marker:
        raise StorageError(f"{PAUSE_ENV} is set but {PAUSE_FILE_ENV} is not")
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(marker + ".tmp", marker)
    while os.path.exists(marker):
        time.sleep(0.02)
