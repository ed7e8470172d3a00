"""Ingestion under misuse (issue 11, items 6-10 and 16): real `lakeledger ingest` processes,
real SIGKILL, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.config import decode
from lakeledger.ingest.extract.runner import PAUSE_ENV, PAUSE_FILE_ENV, run_sources
from lakeledger.ingest.extract.sources import Context, build
from lakeledger.store import Ledger

from .ingest_fixtures import bronze, load, payloads, quarantine, write_config
from .test_ingest_http import FakeGithub, github, issue  # noqa: F401 - the server fixture

EXE = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))


def killed_at(tmp_path: Path, root: str, config: Path, point: str, env: dict[str, str] | None = None) -> None:
    """Run `lakeledger ingest run` until it pauses at ``point``, then SIGKILL it."""
    marker = tmp_path / "paused"
    full_env = {**os.environ, **(env or {}), PAUSE_ENV: point, PAUSE_FILE_ENV: str(marker)}
    proc = subprocess.Popen(
        [EXE, "--root", root, "ingest", "run", str(config), "--no-progress"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ended before {point}: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    marker.unlink()


def rerun(cli: Any, root: str, config: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = cli("--root", root, "ingest", "run", str(config), "--json", "--no-progress", env=env)
    assert result.code == 0, result.err
    [summary] = json.loads(result.out)
    return summary  # type: ignore[no-any-return]


# -- 6: a CSV killed mid-file, then grown -------------------------------------------------------
@pytest.mark.parametrize("point", ["after-checkpoint:1", "after-bronze:2"])
def test_killed_mid_file_then_grown_resumes_from_the_committed_prefix(
    tmp_path: Path, cli: Any, point: str
) -> None:
    data = tmp_path / "log.csv"
    data.write_text("id,v\n" + "".join(f"{i},{i % 7}\n" for i in range(40_000)))
    source = {"name": "log", "kind": "csv", "options": {"path": "log.csv"}, "schema": {"id": "int", "v": "int"},
              "batch_rows": 10_000}
    config = write_config(tmp_path / "s.toml", [source])
    root = str(tmp_path / "ledger")
    killed_at(tmp_path, root, config, point)
    with data.open("a") as f:  # a logger appends meanwhile
        f.write("".join(f"{i},1\n" for i in range(40_000, 40_010)))
    summary = rerun(cli, root, config)
    ids = pl.scan_delta(f"{root}/bronze/log").select("id").collect()["id"]
    assert ids.len() == 40_010 and ids.n_unique() == 40_010  # was 50,010: the file read again
    assert summary["read"] == 40_010 - 10_000 * int(point[-1])
    # and the next growth is read from the end of the file, not from its start
    with data.open("a") as f:
        f.write("40010,2\n")
    assert rerun(cli, root, config)["written"] == 1


def test_a_changed_prefix_is_read_again_as_a_new_version(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,v\n" + "".join(f"{i},x\n" for i in range(10)))
    raw = {"sources": [{"name": "n", "kind": "csv", "options": {"path": str(path)},
                        "schema": {"id": "int", "v": "str"}, "batch_rows": 4}]}
    source = build(decode(raw).source("n"), Context())
    first = next(iter(source.batches(None)))  # committed rows 0-3, then "killed"
    with path.open("a") as f:
        f.write("10,x\n")
    grown = [i for b in source.batches(first.cursor) if b.frame is not None for i in b.frame["id"]]
    assert [int(i) for i in grown] == list(range(4, 11))  # resumed: the prefix still holds
    path.write_text("id,v\n" + "".join(f"{i},y\n" for i in range(11)))  # rewritten in place
    again = [i for b in source.batches(first.cursor) if b.frame is not None for i in b.frame["id"]]
    assert [int(i) for i in again] == list(range(11))  # a new version: read in full


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.text(alphabet='ab,"\n é', max_size=8), min_size=1, max_size=20),
    st.lists(st.text(alphabet='ab,"\n', max_size=8), min_size=1, max_size=5),
    st.integers(1, 6),
    st.sampled_from([64 << 20, 30, 9]),  # max_batch_bytes: batches cut by bytes too
    st.booleans(),
)
def test_any_cursor_then_growth_reads_exactly_the_rest(
    tmp_path: Path, notes: list[str], added: list[str], batch_rows: int, max_bytes: int, rewrite: bool
) -> None:
    """Stop after any batch, let the file grow (or rewrite its first row), resume from that
    cursor: exactly the rows after it and the new ones, or (rewritten) the whole new version."""
    path = tmp_path / "g.csv"
    raw = {"sources": [{"name": "g", "kind": "csv", "options": {"path": str(path), "max_batch_bytes": max_bytes},
                        "schema": {"id": "int", "note": "str?"}, "batch_rows": batch_rows}]}

    def write(texts: list[str]) -> None:
        pl.DataFrame({"id": range(len(texts)), "note": texts}).write_csv(path)

    def ids(batches: Any) -> list[int]:
        return [int(i) for b in batches if b.frame is not None and b.frame.height for i in b.frame["id"]]

    write(notes)
    source = build(decode(raw).source("g"), Context())
    batches = list(source.batches(None))
    assert ids(batches) == list(range(len(notes)))
    done = 0
    for batch in batches:
        done += batch.frame.height if batch.frame is not None else 0
        grown = [*notes, *added]
        if rewrite:
            grown[0] = grown[0] + "Z"
        write(grown)
        expected = list(range(len(grown))) if rewrite else list(range(done, len(grown)))
        assert ids(source.batches(batch.cursor)) == expected
        write(notes)


# -- 7: HTTP resumed after a kill: each bad record quarantined once --------------------------------
def test_resumed_http_run_quarantines_each_record_once(
    tmp_path: Path, cli: Any, github: FakeGithub  # noqa: F811
) -> None:
    github.issues = [issue(n, n) for n in range(1, 16)]
    for n in (8, 10):
        github.issues[n - 1] = {**github.issues[n - 1], "number": f"n{n}"}  # bad records
    source = {"name": "issues", "kind": "github",
              "options": {"repo": "o/r", "api_url": github.base, "per_page": 5, "backoff_s": 0.01}}
    config = write_config(tmp_path / "s.toml", [source])
    root = str(tmp_path / "ledger")
    env = {"GITHUB_TOKEN": "ghp_abcdefgh12345678"}
    # page 2 (issues 6-10) is quarantined, then the process dies before its bronze commit
    killed_at(tmp_path, root, config, "after-quarantine:2", env)
    # resumed from `since` = issue 5's time: the pages now start at issue 5, shifted by one
    summary = rerun(cli, root, config, env)
    assert summary["status"] == "success"
    bad = pl.scan_delta(f"{root}/quarantine").collect()
    assert sorted(json.loads(r)["number"] for r in bad["raw"]) == ["n10", "n8"]  # once each
    rows = pl.scan_delta(f"{root}/bronze/issues").collect()
    assert sorted(rows["number"]) == [n for n in range(1, 16) if n not in (8, 10)]


# -- 8: status counts what the tables hold -------------------------------------------------------
def test_status_counts_rows_of_a_killed_run(tmp_path: Path, cli: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for f in range(3):
        lines = [f"{f * 100 + i},{'x' if i % 3 == 2 else i}" for i in range(6)]
        (data / f"part-{f}.csv").write_text("id,amount\n" + "\n".join(lines) + "\n")
    source = {"name": "orders", "kind": "csv", "options": {"path": "data/*.csv"},
              "schema": {"id": "int", "amount": "float"}, "batch_rows": 4}
    config = write_config(tmp_path / "s.toml", [source])
    root = str(tmp_path / "ledger")
    killed_at(tmp_path, root, config, "after-checkpoint:3")  # 3 batches landed, no metrics
    [status] = json.loads(cli("--root", root, "ingest", "status", "--json").out)
    landed = pl.scan_delta(f"{root}/bronze/orders").collect().height
    assert landed > 0 and (status["written"], status["total_written"]) == (landed, landed)
    assert status["status"] == "running" and status["quarantined"] > 0
    rerun(cli, root, config)
    [status] = json.loads(cli("--root", root, "ingest", "status", "--json").out)
    assert (status["total_written"], status["total_quarantined"]) == (12, 6)
    assert status["written"] == 12 - landed and status["runs"] == 2


# -- 9: new CSV columns are never dropped silently ---------------------------------------------
def test_new_columns_evolve_the_schema(tmp_path: Path, ledger: Ledger) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/a.csv").write_text("id,v\n1,a\n")
    source = {"name": "s", "kind": "csv", "options": {"path": "data/*.csv"}, "schema": {"id": "int", "v": "str"}}
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    run_sources(ledger, loaded)
    (tmp_path / "data/b.csv").write_text("id,v,note\n2,b,hello\n3,c,\n")
    [second] = run_sources(ledger, loaded)
    assert second.schema_added == ["note"] and second.written == 2
    rows = bronze(ledger, "s").sort("id")
    assert rows["note"].to_list() == [None, "hello", None]
    declared = payloads(ledger, "dataset.declared", "dataset/bronze/s")
    assert len(declared) == 2 and "note" in [c["name"] for c in declared[-1]["schema"]["columns"]]
    [tag] = [p for p in payloads(ledger, "run.tag_set", f"run/{second.run_id}") if p["key"] == "schema_added"]
    assert tag["value"] == "note"
    (tmp_path / "data/c.csv").write_text("id,v,note\n4,d,again\n")  # now a known column
    [third] = run_sources(ledger, loaded)
    assert third.schema_added == [] and len(payloads(ledger, "dataset.declared", "dataset/bronze/s")) == 2
    assert bronze(ledger, "s").sort("id")["note"].to_list()[-1] == "again"


def test_frozen_schema_quarantines_rows_with_new_columns(tmp_path: Path, ledger: Ledger) -> None:
    (tmp_path / "a.csv").write_text("id,v,note\n1,a,\n2,b,hello\n")
    source = {"name": "s", "kind": "csv", "options": {"path": "a.csv"}, "schema": {"id": "int", "v": "str"},
              "schema_mode": "freeze"}
    [result] = run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert (result.written, result.quarantined) == (1, 1)
    assert "note" not in bronze(ledger, "s").columns
    [bad] = quarantine(ledger, "s").to_dicts()
    assert bad["row"] == 2 and bad["reason"] == "column 'note' is not in the schema (schema_mode = \"freeze\")"
    assert json.loads(bad["raw"])["note"] == "hello"


# -- 10: long lines and ragged rows ---------------------------------------------------------
def test_ragged_rows_are_quarantined_with_their_line(tmp_path: Path, ledger: Ledger) -> None:
    (tmp_path / "a.csv").write_text('id,v,w\n1,a,b\n2,"multi\nline",c\n3,x,y,z\n4,only\n5,e,f\n')
    source = {"name": "r", "kind": "csv", "options": {"path": "a.csv"},
              "schema": {"id": "int", "v": "str", "w": "str?"}}
    [result] = run_sources(ledger, load(write_config(tmp_path / "s.toml", [source])))
    assert result.status == "success", result.error
    assert sorted(bronze(ledger, "r")["id"]) == [1, 2, 5]
    bad = quarantine(ledger, "r").sort("row")
    assert bad["reason"].to_list() == ["line 5: 4 fields, the header has 3", "line 6: 2 fields, the header has 3"]
    assert bad["row"].to_list() == [3, 4]
    assert json.loads(bad["raw"][0]) == ["3", "x", "y", "z"]


# Runs the command in a grandchild and prints its peak RSS. Not the child's own ``wait4``: Linux
# carries the pre-exec image's high-water mark into ``ru_maxrss``, so a child forked from this
# pytest process reported pytest's own peak (1,024 MB once, late in a full suite), not the ingest's.
# The wrapper is a fresh small image, so what it forks starts clean.
_PEAK = (
    "import os, subprocess, sys\n"
    "proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _peak_rss_mb(config: Path, root: Path) -> tuple[int, float]:
    """Ingest in a fresh process; its exit code and its own peak RSS (MB)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, EXE, "--root", str(root), "ingest", "run", str(config), "--no-progress"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.returncode, int(done.stdout.split()[-1]) / 1024


def test_megabyte_lines_in_bounded_memory(tmp_path: Path) -> None:
    line = "x" * (1 << 20)
    (tmp_path / "big.csv").write_text("id,text\n" + "".join(f"{i},{line}\n" for i in range(40)))
    (tmp_path / "huge.csv").write_text("id,text\n1,a\n2," + "y" * (24 << 20) + "\n3,c\n")
    sources = [
        {"name": "big", "kind": "csv", "options": {"path": "big.csv", "max_batch_bytes": 8 << 20},
         "schema": {"id": "int", "text": "str"}},
        {"name": "huge", "kind": "csv", "options": {"path": "huge.csv", "max_line_bytes": 1 << 20},
         "schema": {"id": "int", "text": "str"}},
    ]
    config = write_config(tmp_path / "s.toml", sources)
    code, peak = _peak_rss_mb(config, tmp_path / "ledger")
    assert code == 0
    # 40 MB and a 24 MB line read in pieces of at most a few MB (was: MemoryError)
    print(f"peak RSS {peak:.0f} MB")
    assert peak < 900, peak
    with Ledger.open(tmp_path / "ledger") as ledger:
        big = bronze(ledger, "big")
        assert sorted(big["id"]) == list(range(40)) and big["text"].str.len_bytes().min() == 1 << 20
        assert big["_batch"].n_unique() >= 5  # batches of at most 8 MB of text
        assert sorted(bronze(ledger, "huge")["id"]) == [1, 3]
        [bad] = quarantine(ledger, "huge").to_dicts()
        assert bad["reason"] == "line 3: longer than options.max_line_bytes (1048576 bytes)"
        assert len(bad["raw"]) < 2000


# -- 16: a token in the query string is never recorded ------------------------------------------
def test_query_string_token_is_masked_everywhere_and_resume_still_works(
    tmp_path: Path, cli: Any, github: FakeGithub  # noqa: F811
) -> None:
    token = "qs-secret-token-0123456789"
    github.issues = [issue(n, n) for n in range(1, 12)]
    github.issues[6] = {**github.issues[6], "number": "bad"}  # one quarantined record
    source = {
        "name": "plain",
        "kind": "http",
        "schema": {"number": "int", "title": "str"},
        "options": {
            "url": f"{github.base}/repos/o/r/issues",
            "params": {"access_token": "${API_TOKEN}", "per_page": 3},
            "backoff_s": 0.01,
        },
    }
    config = write_config(tmp_path / "s.toml", [source])
    root = str(tmp_path / "ledger")
    env = {"API_TOKEN": token}
    killed_at(tmp_path, root, config, "after-checkpoint:2", env)  # cursor: the next URL
    rerun(cli, root, config, env)
    # the resumed run asked with the real token again, and read every page exactly once
    assert all(r["query"].get("access_token") == token for r in github.requests)
    assert [r["query"].get("page") for r in github.requests] == [None, "2", "3", "4"]
    assert sorted(pl.scan_delta(f"{root}/bronze/plain").collect()["number"]) == [
        n for n in range(1, 12) if n != 7
    ]
    failing = write_config(tmp_path / "f.toml", [{**source, "options": {**source["options"], "url": github.base}}])
    assert cli("--root", root, "ingest", "run", str(failing), "--no-progress", env=env).code == 1

    with Ledger.open(root) as ledger:
        events = ledger.events().collect()
        recorded = [
            *events["payload"].to_list(),
            *pl.scan_delta(f"{root}/bronze/plain").collect().select(pl.all().cast(pl.String)).rows(),
            *quarantine(ledger).select(pl.all().cast(pl.String)).rows(),
        ]
        cursor = payloads(ledger, "ingest.checkpoint")[1]["cursor"]
    assert "access_token=%24%7BAPI_TOKEN%7D" in cursor["next"] or "${API_TOKEN}" in cursor["next"]
    assert token not in json.dumps(recorded, default=str)
    for path in Path(root).rglob("*.json"):  # Delta logs: commit info, metadata
        assert token not in path.read_text(), path
    [declared, *_] = payloads_of(events, "config.declared")
    assert declared["config"]["options"]["params"]["access_token"] == "${API_TOKEN}"


def payloads_of(events: pl.DataFrame, kind: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in events.filter(pl.col("kind") == kind)["payload"]]
