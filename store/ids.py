"""UUIDv7 event ids: time-ordered, so ids sort by creation and Parquet min/max stats prune well.

Python 3.11 has no ``uuid.uuid7``; this follows RFC 9562 (48-bit ms timestamp, version 7,
variant 10) with a per-process monotonic counter in ``rand_a`` so ids made in the same
millisecond by one process still sort in creation order. Uniqueness across processes rests on
the 62 random bits, so a forked child reseeds (it would otherwise repeat its parent's stream,
and its siblings', and the idempotent-skip rule would drop their events as retries).
"""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Seeded from the OS once per process: ids need uniqueness, not secrecy, and getrandbits is
# ~10x faster than a urandom syscall per id (buffered log_metric makes an id per call).
_rng = random.Random(os.urandom(32))


def _reseed_after_fork() -> None:
    global _lock, _last_ms, _counter
    _rng.seed(os.urandom(32))
    _lock = threading.Lock()  # another parent thread may have held it at the fork
    _last_ms = 0
    _counter = 0


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_event_id() -> str:
    """Return a new UUIDv7 as a canonical 36-character string."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = _rng.getrandbits(10)
        _last_ms = ms
        counter = _counter
        rand_b = _rng.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_run_id() -> str:
    """Run ids are UUIDv7 hex without dashes: short enough to type, still time-ordered."""
    return new_event_id().replace("-", "")
