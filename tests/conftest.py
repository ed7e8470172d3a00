"""Shared fixtures: storage backends for the contract suite, ledgers, CLI runner.

Backends are real: a temporary directory, and S3 served by a local ``moto_server`` process
(moto enforces If-None-Match, so delta-rs commits are safe without a lock service).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lakeledger import Ledger  # the facade: the store Ledger plus view, check and stage
from lakeledger.store import LogSettings


@dataclass
class Backend:
    name: str
    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    def open(self, **kwargs: object) -> Ledger:
        return Ledger.open(self.root, self.storage_options, **kwargs)  # type: ignore[arg-type]

    def cli_args(self) -> list[str]:
        args = ["--root", self.root]
        for k, v in self.storage_options.items():
            args += ["--storage-option", f"{k}={v}"]
        return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not os.path.exists(exe):
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


S3_CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "secret-testing-key",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def s3_backend(endpoint: str) -> Backend:
    import boto3

    bucket = f"ll-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="secret-testing-key",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return Backend("s3", f"s3://{bucket}/ledger", {**S3_CREDS, "AWS_ENDPOINT_URL": endpoint})


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every storage backend lakeledger supports; contract tests take this fixture."""
    if request.param == "local":
        return Backend("local", str(tmp_path / "ledger"))
    return s3_backend(request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh local ledger (for tests that are not about storage)."""
    with Ledger.open(tmp_path / "ledger") as led:
        yield led


@pytest.fixture
def small_log_settings() -> LogSettings:
    """Log management on a tiny cadence, so tests cross checkpoints, compaction and cleanup."""
    return LogSettings(checkpoint_interval=5, compact_every=4, keep_log_versions=5, vacuum_every=7)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli() -> object:
    """Run the real ``lakeledger`` executable in a subprocess."""
    exe = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> CliResult:
        proc = subprocess.run(
            [exe, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
