"""HTTP benchmarks for ``lakeledger serve`` (issue 12). Prints medians of --repeat rounds.

  python scripts/bench/serve.py [--seconds 8] [--repeat 3] [--workdir DIR]

- 16 concurrent clients (2 processes x 8 asyncio keep-alive connections) appending batches of
  100 events: events/s; then single-event requests: requests/s and client-side p50; then the same
  from --many clients (default 256): a request waits for one durable commit (~30 ms here), so
  2,000 requests/s needs ~60+ requests in flight, which 16 clients cannot have;
- one client sending single-event requests (no contention) p50, beside the p50 of the same commit
  made with ``Ledger.append`` right after it on the same ledger (the server idle): the HTTP overhead;
- 16 clients POSTing OpenLineage RunEvents (START, COMPLETE) to /api/v1/lineage: requests/s;
- every acknowledged event counted in the raw Delta table: lost and duplicated must be 0.
Clients are minimal asyncio HTTP/1.1 connections (no library): they share the 2 cores with the
server, so a heavy client (http.client in threads) would mostly measure itself.
Targets (2 cores): >= 20,000 events/s in batches, >= 2,000 single-event requests/s, HTTP overhead
<= 2 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from lakeledger.store import Ledger
from lakeledger.store import events as ev

TOKEN = "bench-token"
PROCS, CONNS = 2, 8  # 16 concurrent clients, as issue 12 says
MANY = 256  # concurrent single-event clients: one commit takes ~30 ms, so 16 clients cap at ~500 req/s


def _body(mode: str, tag: str, i: int) -> tuple[str, bytes]:
    if mode == "lineage":
        return "/api/v1/lineage", json.dumps({
            "eventType": "COMPLETE" if i % 2 else "START", "eventTime": datetime.now(UTC).isoformat(),
            "producer": "bench", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "bench", "name": f"job{i % 50}"},
            "inputs": [{"namespace": "s3://b", "name": f"in{i % 20}"}],
            "outputs": [{"namespace": "s3://b", "name": f"out{i % 20}"}]}).encode()
    size = 100 if mode == "batch" else 1
    return "/api/v1/events", json.dumps([{"kind": "validation.recorded", "target": tag, "check": f"c{i}.{j}",
                                          "passed": True} for j in range(size)]).encode()


async def _connection(port: int, mode: str, until: float, tag: str, out: list) -> None:
    """One keep-alive HTTP/1.1 connection sending requests back to back (a minimal client: the
    bench's clients share the server's 2 cores, so they must cost little)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acked = requests = errors = 0
    latencies: list[float] = []
    i = 0
    while time.monotonic() < until:
        i += 1
        path, body = _body(mode, tag, i)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        t0 = time.perf_counter()
        try:
            writer.write(head + body)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header.split(b" ", 2)[1])
            length = int(header.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            answer = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        latencies.append(time.perf_counter() - t0)
        requests += 1
        if status == 200:
            acked += json.loads(answer)["appended"]
        else:
            errors += 1
    writer.close()
    out.append((requests, acked, errors, latencies))


def _process(port: int, mode: str, seconds: float, tag: str, conns: int) -> tuple[int, int, int, list[float]]:
    out: list = []

    async def run() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_connection(port, mode, until, f"{tag}.{os.getpid()}.{c}", out)
                               for c in range(conns)))

    asyncio.run(run())
    return (sum(o[0] for o in out), sum(o[1] for o in out), sum(o[2] for o in out),
            [x for o in out for x in o[3]])


def load(pool: mp.pool.Pool, port: int, mode: str, seconds: float, tag: str,
         procs: int = PROCS, conns: int = CONNS) -> dict[str, float]:
    """``procs`` client processes with ``conns`` concurrent connections each."""
    t0 = time.perf_counter()
    results = pool.starmap(_process, [(port, mode, seconds, tag, conns)] * procs)
    elapsed = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[3])
    return {"requests": sum(r[0] for r in results), "acked": sum(r[1] for r in results),
            "errors": sum(r[2] for r in results), "seconds": elapsed,
            "p50_ms": statistics.median(lat) * 1e3 if lat else float("nan")}


def library_p50(root: str, n: int = 200) -> float:
    """The commit the server makes for one such request, made directly: durable, ids not searched
    (the body named none). Maintenance stays inline (without it nothing checkpoints the log and
    each commit replays more of it); the median is of the commits between."""
    ledger = Ledger.open(root)
    samples = []
    for i in range(n):
        e = ev.ValidationRecorded(target="lib", check=f"c{i}", passed=True)
        t0 = time.perf_counter()
        ledger.append([e], check_ids=False)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-c", "from lakeledger.cli.main import main; main()", "--root", root, "serve",
           "--port", str(port), "--token-env", "BENCH_TOKEN"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "BENCH_TOKEN": TOKEN})
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                sys.exit("server failed to start")
            time.sleep(0.02)
    print(f"server listening after {time.perf_counter() - t0:.2f} s (process start to accepting)")
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--many", type=int, default=MANY, help=f"concurrent single-event clients (default {MANY})")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-serve-"))
    root = str(work / "served")
    rounds: dict[str, list[float]] = {k: [] for k in (
        "batch_events_s", "single_req_s", "single16_p50", "many_req_s", "many_p50", "single1_p50", "library_p50",
        "lineage_req_s")}
    acked = errors = library_events = 0
    print(f"load average before: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    try:
        proc, port = start_server(root)
        ctx = mp.get_context("spawn")
        with ctx.Pool(PROCS) as pool:
            acked += load(pool, port, "single", 1.0, "warmup")["acked"]
            for r in range(args.repeat):
                b = load(pool, port, "batch", args.seconds, f"batch{r}")
                s = load(pool, port, "single", args.seconds, f"single{r}")
                many = load(pool, port, "single", args.seconds, f"many{r}", conns=args.many // PROCS)
                one = load(pool, port, "single", args.seconds / 2, f"one{r}", procs=1, conns=1)
                lin = load(pool, port, "lineage", args.seconds, f"lineage{r}")
                lib = library_p50(root)  # the same ledger, the server idle meanwhile
                library_events += 200
                rounds["batch_events_s"].append(b["acked"] / b["seconds"])
                rounds["single_req_s"].append(s["requests"] / s["seconds"])
                rounds["single16_p50"].append(s["p50_ms"])
                rounds["many_req_s"].append(many["requests"] / many["seconds"])
                rounds["many_p50"].append(many["p50_ms"])
                rounds["single1_p50"].append(one["p50_ms"])
                rounds["library_p50"].append(lib)
                rounds["lineage_req_s"].append(lin["requests"] / lin["seconds"])
                acked += b["acked"] + s["acked"] + many["acked"] + one["acked"]
                round_errors = b["errors"] + s["errors"] + many["errors"] + one["errors"] + lin["errors"]
                errors += round_errors
                print(f"round {r + 1}: batches {b['acked'] / b['seconds']:,.0f} ev/s | single x16 "
                      f"{s['requests'] / s['seconds']:,.0f} req/s p50 {s['p50_ms']:.1f} ms | single x{args.many} "
                      f"{many['requests'] / many['seconds']:,.0f} req/s p50 {many['p50_ms']:.1f} ms | 1 client p50 "
                      f"{one['p50_ms']:.2f} ms vs library {lib:.2f} ms | lineage {lin['requests'] / lin['seconds']:,.0f}"
                      f" req/s | errors {round_errors} | load {os.getloadavg()[0]:.1f}", flush=True)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
        frame = pl.read_delta(f"{root}/events", columns=["event_id", "kind", "stream"])
        rows = frame.filter(pl.col("kind") == "validation.recorded")
        dupes = rows.height - rows["event_id"].n_unique()
        lost = acked + library_events - rows["event_id"].n_unique()
        med = {k: statistics.median(v) for k, v in rounds.items()}
        print(f"\nmedians of {args.repeat} rounds ({args.seconds:.0f} s each), 16 clients unless said:")
        print(f"  batches of 100:        {med['batch_events_s']:>9,.0f} events/s   (target >= 20,000)")
        print(f"  single-event requests: {med['single_req_s']:>9,.0f} requests/s (target >= 2,000), "
              f"p50 {med['single16_p50']:.1f} ms")
        print(f"  ... {args.many} clients:      {med['many_req_s']:>9,.0f} requests/s, p50 {med['many_p50']:.1f} ms")
        print(f"  one client, single:    p50 {med['single1_p50']:.2f} ms vs library append p50 "
              f"{med['library_p50']:.2f} ms: HTTP overhead {med['single1_p50'] - med['library_p50']:+.2f} ms "
              "(target <= 2 ms)")
        print(f"  OpenLineage POSTs:     {med['lineage_req_s']:>9,.0f} requests/s")
        print(f"  raw table: {rows.height} validation rows, {dupes} duplicated, {lost} acknowledged but lost, "
              f"{errors} errors; server exit code {code}")
        la = os.getloadavg()
        print(f"  load average after: {la[0]:.1f} {la[1]:.1f} {la[2]:.1f}")
        if dupes or lost or code != 0:
            sys.exit(1)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
