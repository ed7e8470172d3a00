"""Helpers for the watcher tests: the real ``lakeledger watch`` process, landing-file writers,
and polling the ledger for exact event counts (with a deadline, never a blind sleep)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from lakeledger.store import Ledger

EXE = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))


class WatchProcess:
    """``lakeledger --root ROOT watch DIR --dataset NAME ...`` running in the background."""

    def __init__(self, root: Path, directory: Path, dataset: str, *extra: str,
                 debounce_ms: int = 250, logs: Path | None = None) -> None:
        self.logs = logs or directory.parent
        self.logs.mkdir(parents=True, exist_ok=True)
        tag = f"{directory.name}-{time.monotonic_ns()}"
        self.out_path = self.logs / f"watch-{tag}.out"
        self.err_path = self.logs / f"watch-{tag}.err"
        self.args = [EXE, "--root", str(root), "watch", str(directory), "--dataset", dataset,
                     "--debounce-ms", str(debounce_ms), *extra]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err)

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.alive():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"watcher did not stop on {sig}; stderr:\n{self.err}") from None

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)


class Counts(msgspec.Struct):
    observed: int
    removed: int
    problems: int


class LedgerProbe:
    """Reads what the watcher wrote, from the real ledger, while it runs."""

    def __init__(self, root: Path, dataset: str) -> None:
        self.root = root
        self.dataset = dataset
        self._ledger: Ledger | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.root, create=False)
        return self._ledger

    def rows(self, kind: str) -> list[dict[str, Any]]:
        prefix = "validation" if kind == "validation.recorded" else "dataset"
        stream = f"{prefix}/{self.dataset}"
        if not (self.root / "events").exists():
            return []
        df = self.ledger.events(kind=kind, stream=stream).select("payload").collect()
        return [msgspec.json.decode(p) for p in df["payload"]]

    def counts(self) -> Counts:
        return Counts(len(self.rows("partition.observed")), len(self.rows("partition.removed")),
                      len(self.rows("validation.recorded")))

    def wait_for(self, observed: int | None = None, removed: int = 0, problems: int = 0,
                 timeout: float = 30, proc: WatchProcess | None = None) -> Counts:
        """Poll until the counts are exactly these; fail with what was seen at the deadline."""
        want = (observed, removed, problems)
        deadline = time.monotonic() + timeout
        while True:
            got = self.counts()
            same = (got.removed, got.problems) == want[1:]
            if (observed is None or got.observed == observed) and same:
                return got
            overshoot = ((observed is not None and got.observed > observed)
                         or got.removed > removed or got.problems > problems)
            if overshoot or time.monotonic() > deadline:
                detail = f"\nwatcher stderr:\n{proc.err}\nstdout:\n{proc.out}" if proc else ""
                raise AssertionError(f"expected observed={observed} removed={removed} "
                                     f"problems={problems}, got {got}{detail}")
            if proc is not None and not proc.alive():
                raise AssertionError(f"watcher exited with {proc.proc.returncode}:\n{proc.err}")
            time.sleep(0.05)

    def observed_uris(self) -> list[str]:
        return [r["uri"] for r in self.rows("partition.observed")]

    def latest(self, uri: str) -> dict[str, Any]:
        return [r for r in self.rows("partition.observed") if r["uri"] == uri][-1]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def sales(n: int, seed: int = 0, amount_type: pa.DataType | None = None) -> pa.Table:
    amounts = pa.array([float(seed + i) for i in range(n)])
    if amount_type is not None:
        amounts = amounts.cast(amount_type)
    return pa.table({"id": pa.array(range(seed, seed + n), pa.int64()), "amount": amounts})


def write_parquet(path: Path, table: pa.Table) -> bytes:
    """Write atomically-enough for a test (one write call) and return the bytes written."""
    data = parquet_bytes(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def declare(root: Path, dataset: str, schema: dict[str, str] | None) -> None:
    with Ledger.open(root) as ledger:
        ledger.declare_dataset(dataset, schema=schema)


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_tree(proc: WatchProcess) -> None:
    if proc.alive():
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(5)
