"""Durable files on local disk: write, fsync, publish atomically.

The fsyncs a commit needs before it is published (the new data file, the table directory
holding its name, the commit file's content) are issued at once from threads: ext4 serves
concurrent fsyncs with one journal commit and one device flush. Measured (ext4 on a virtio
disk, load 5): the four fsyncs one after another 17 ms, these three together then the
directory fsync of the published name 5.7 ms.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor


def publish(directory: str, name: str, body: bytes, *, sync: bool = True, also: Sequence[str] = (),
            dirs: Sequence[str] = (), sync_dir: bool = True) -> None:
    """Create ``directory/name`` holding ``body`` if it is absent, else ``FileExistsError``.

    Written under a temporary name, fsynced together with ``also`` and ``dirs``, then
    hard-linked: put-if-absent and atomic, so a reader never sees a half-written file and two
    writers never both win. ``sync_dir=False`` leaves the directory fsync that makes the new
    name durable to the caller (``sync_path(directory)``)."""
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}{os.path.splitext(name)[1]}")
    try:
        write_synced(tmp, body, sync=sync, also=also, dirs=dirs)
        os.link(tmp, os.path.join(directory, name))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if sync and sync_dir:
        sync_path(directory)


def write_synced(path: str, body: bytes, *, sync: bool = True, also: Sequence[str] = (),
                  dirs: Sequence[str] = ()) -> None:
    """Create ``path`` with ``body`` and fsync it, together with the files ``also`` and the
    directories ``dirs``: all at once, from threads (one journal commit for all on ext4)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            others = []
            for other in [*also, *dirs]:
                try:
                    others.append(_syncer().submit(sync_path, other))
                except RuntimeError:  # interpreter shutdown (the atexit flush): no new threads
                    sync_path(other)
            try:
                os.fsync(fd)
            finally:
                for f in others:
                    f.result()
    finally:
        os.close(fd)


def sync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)  # fsync through any descriptor flushes the file (Linux)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _syncer() -> ThreadPoolExecutor:
    """Threads for concurrent fsyncs; a forked child (whose copy has no threads) makes its own."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="lakeledger-fsync"))
    return _pool[1]

