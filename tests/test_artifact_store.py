"""The content-addressed artifact store, on a local root and on S3 (moto_server)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from lakeledger.store.artifacts import PARTIAL, ArtifactStore, ChecksumMismatch, uri_of
from lakeledger.store.errors import InvalidInput
from lakeledger.store.storage import filesystem

from tests.conftest import Backend


def _file(path: Path, size: int, seed: int = 0) -> Path:
    block = hashlib.sha256(str(seed).encode()).digest() * 1024
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return path


def _corrupt(led, uri: str) -> None:
    fs, target = filesystem(led.location, led.location.join(uri))
    data = bytearray(fs.cat_file(target))
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern changed
    with fs.open(target, "wb") as fh:
        fh.write(bytes(data))


def test_log_get_verify_and_check(backend: Backend, tmp_path: Path) -> None:
    src = _file(tmp_path / "model.bin", 3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    with backend.open() as led:
        led.declare_config("model.bin", {"lr": 0.1})
        with led.run("train") as run:
            art = run.log_artifact(src, config_hash=None)
        assert art.uri == uri_of(digest) == f"artifacts/sha256/{digest[:2]}/{digest}"
        assert (art.content_hash, art.size_bytes, art.run_id) == (digest, src.stat().st_size, run.run_id)
        [stored] = led.read(kind="artifact.registered")
        assert stored.content_hash == digest and stored.size_bytes == src.stat().st_size

        got = led.get_artifact("model.bin", tmp_path / "out.bin")
        assert Path(got).read_bytes() == src.read_bytes()
        assert not [p for p in led.check().problems if p.problem == "corrupted"]

        _corrupt(led, art.uri)
        with pytest.raises(ChecksumMismatch, match="corrupted"):
            led.get_artifact("model.bin", tmp_path / "bad.bin")
        assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.partial").exists()
        report = led.check()
        assert [(p.subject, p.problem) for p in report.problems if p.problem == "corrupted"] == [
            ("model.bin", "corrupted")
        ]


def test_same_content_is_stored_once_and_uri_registration_still_works(
    backend: Backend, tmp_path: Path
) -> None:
    a = _file(tmp_path / "a.txt", 1000, seed=1)
    b = tmp_path / "b.txt"
    b.write_bytes(a.read_bytes())
    with backend.open() as led:
        first = ArtifactStore(led.location).put(a)
        again = ArtifactStore(led.location).put(b)
        assert first.written and not again.written and first.uri == again.uri
        led.log_artifact(a, "x")
        led.log_artifact(b, "y")
        ext = led.register_artifact("elsewhere", "s3://other-bucket/model.pkl")
        assert ext.uri == "s3://other-bucket/model.pkl" and ext.content_hash is None
        with pytest.raises(InvalidInput, match="outside lakeledger's artifact store"):
            led.get_artifact("elsewhere", tmp_path / "z")
        with pytest.raises(InvalidInput, match="no artifact named 'nope'"):
            led.get_artifact("nope", tmp_path / "z")
        fs, root = filesystem(led.location, led.location.join("artifacts/sha256"))
        assert len(fs.find(root)) == 1


def test_interrupted_local_copy_resumes(tmp_path: Path) -> None:
    """A crash mid-copy leaves a prefix in .partial; the retry appends the rest, verified."""
    from lakeledger import Ledger

    src = _file(tmp_path / "big.bin", 20 * 1024 * 1024 + 5, seed=2)
    data = src.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with Ledger.open(tmp_path / "ledger") as led:
        partial = Path(led.location.join(PARTIAL, digest))
        partial.parent.mkdir(parents=True)
        partial.write_bytes(data[: 9 * 1024 * 1024])  # what a killed copy left behind
        stored = ArtifactStore(led.location).put(src)
        assert stored.written and not partial.exists()
        assert Path(led.location.join(stored.uri)).read_bytes() == data

        other = _file(tmp_path / "other.bin", 4096, seed=3)
        odigest = hashlib.sha256(other.read_bytes()).hexdigest()
        bad = Path(led.location.join(PARTIAL, odigest))
        bad.write_bytes(b"garbage that is not a prefix")  # a wrong prefix is discarded
        stored = ArtifactStore(led.location).put(other)
        assert Path(led.location.join(stored.uri)).read_bytes() == other.read_bytes()


def test_missing_source_is_a_clear_error(ledger, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        ledger.log_artifact(tmp_path / "nope.bin")
    assert not ledger.read(kind="artifact.registered")
    assert not os.path.exists(ledger.location.join("artifacts"))


def test_cli_log_and_get(cli, tmp_path: Path) -> None:
    import json

    root = str(tmp_path / "ledger")
    src = _file(tmp_path / "weights.pt", 5000, seed=4)
    res = cli("--root", root, "artifacts", "log", str(src), "--name", "weights", "--json")
    assert res.code == 0, res.err
    row = json.loads(res.out)
    assert row["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest() and row["size_bytes"] == 5000
    res = cli("--root", root, "artifacts", "get", "weights", "--dest", str(tmp_path / "back.pt"))
    assert res.code == 0, res.err
    assert (tmp_path / "back.pt").read_bytes() == src.read_bytes()

    res = cli("--root", root, "artifacts", "log", str(tmp_path / "absent.pt"))
    assert res.code == 2 and "absent.pt" in res.err and "Traceback" not in res.err
    with open(os.path.join(root, row["uri"]), "r+b") as fh:
        fh.write(b"X")
    res = cli("--root", root, "artifacts", "get", "weights", "--dest", str(tmp_path / "again.pt"))
    assert res.code == 1 and "corrupted" in res.err and "Traceback" not in res.err
    res = cli("--root", root, "check", "--json")
    assert res.code == 1
    assert {"view": "staleness", "subject": "weights", "problem": "corrupted"}.items() <= json.loads(res.out)["problems"][0].items()
