"""Entry points for real worker processes (multiprocessing "spawn": deltalake's tokio
runtime does not survive fork). Module-level functions so spawn can import them."""

from __future__ import annotations

import os
import signal
import sys

from lakeledger.store import Ledger, LogSettings
from lakeledger.store.events import ValidationRecorded


def append_events(
    root: str,
    options: dict[str, str],
    worker: int,
    n: int,
    batch: int,
    settings: LogSettings | None = None,
    check_ids: bool = False,
) -> list[str]:
    """Append ``n`` events in batches of ``batch``; return the ids this worker committed."""
    ledger = Ledger.open(root, options, settings=settings)
    ids: list[str] = []
    for start in range(0, n, batch):
        events = [
            ValidationRecorded(target=f"w{worker}", check=f"c{i}", passed=True)
            for i in range(start, min(n, start + batch))
        ]
        ledger.append(events, check_ids=check_ids)
        ids += [e.event_id for e in events]
    ledger.close()  # as a program's exit does: maintenance runs after appends return, close waits for it
    return ids


def burn_cpu(stop: object) -> None:
    """Load the machine until ``stop`` (a multiprocessing Event) is set."""
    while not stop.is_set():  # type: ignore[attr-defined]
        sum(range(10_000))


def register_versions(root: str, options: dict[str, str], model: str, n: int) -> list[int]:
    ledger = Ledger.open(root, options)
    return [ledger.register_model_version(model) for _ in range(n)]


def flush_forever(root: str, ack_path: str) -> None:
    """Emit and flush batches until killed; after each flush returns, append its ids to ack."""
    ledger = Ledger.open(root, max_buffer_delay_s=0)
    with open(ack_path, "a", buffering=1) as ack:
        batch = 0
        while True:
            ids = []
            for i in range(50):
                e = ValidationRecorded(target="crash", check=f"b{batch}-{i}", passed=True)
                ledger.emit(e)
                ids.append(e.event_id)
            ledger.flush()
            ack.write("\n".join(ids) + "\n")
            batch += 1


if __name__ == "__main__":  # python -m tests.workers flush ROOT ACK
    if sys.argv[1] == "flush":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        flush_forever(sys.argv[2], sys.argv[3])
    os._exit(0)
