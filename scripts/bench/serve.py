"""HTTP benchmarks for ``lakeledger serve`` (issue 12). Prints medians of --repeat rounds.

  python scripts/bench/serve.py [--seconds 8] [--repeat 3] [--workdir DIR] [--baseline SRC]

- 16 concurrent clients (2 processes x 8 asyncio keep-alive connections) appending batches of
  100 events: events/s; then single-event requests: requests/s and client-side p50; then the same
  from --many clients (default 256): a request waits for one durable commit (~30 ms here), so
  2,000 requests/s needs ~60+ requests in flight, which 16 clients cannot have;
- 16 clients POSTing OpenLineage RunEvents (START, COMPLETE) to /api/v1/lineage: requests/s;
- one client sending single-event requests (no contention) p50, beside the p50 of the same commit
  made with ``Ledger.append`` on the same ledger by the server's code in another process, in
  alternating blocks of 25 (each waits while the other runs): the HTTP overhead;
- every acknowledged event counted in the raw Delta table: lost and duplicated must be 0.
With ``--baseline SRC`` (a directory holding another ``lakeledger`` package, e.g. ``main`` laid
out by ``--make-baseline SRC``) a second server runs that code on its own root, and the rounds
alternate between the two (A, B, B, A...), each with its own library p50: before/after, same run.
Load clients are minimal asyncio HTTP/1.1 connections (no library): they share the 2 cores with
the server, so a heavy client (http.client in threads) would mostly measure itself; the lone
client of the overhead measure is one http.client keep-alive connection.
Server CPU per event, per request, and the clients' CPU (cores) are read from /proc (Linux).
Targets (2 cores): >= 20,000 events/s in batches, >= 2,000 single-event requests/s, HTTP overhead
<= 2 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
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
    head = b'{"kind":"validation.recorded","target":' + json.dumps(tag).encode() + b',"check":"c%d.%d","passed":true}'
    return "/api/v1/events", b"[" + b",".join(head % (i, j) for j in range(size)) + b"]"


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
        if status == 200:  # the answer's count, without decoding the whole answer
            acked += int(answer.split(b'"appended":', 1)[1].split(b",", 1)[0])
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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes ``pids`` (all their threads) used so far (Linux /proc;
    nan elsewhere): where the 2 cores went, server against clients."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load(pool: mp.pool.Pool, port: int, mode: str, seconds: float, tag: str,
         procs: int = PROCS, conns: int = CONNS, server: int | None = None) -> dict[str, float]:
    """``procs`` client processes with ``conns`` concurrent connections each; with ``server``
    (its pid) also the CPU seconds the server and the clients used meanwhile."""
    clients = [p.pid for p in pool._pool]  # type: ignore[attr-defined]
    before = cpu_seconds([server]) if server else float("nan"), cpu_seconds(clients)
    t0 = time.perf_counter()
    results = pool.starmap(_process, [(port, mode, seconds, tag, conns)] * procs)
    elapsed = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[3])
    return {"requests": sum(r[0] for r in results), "acked": sum(r[1] for r in results),
            "errors": sum(r[2] for r in results), "seconds": elapsed,
            "p50_ms": statistics.median(lat) * 1e3 if lat else float("nan"),
            "server_cpu": (cpu_seconds([server]) if server else float("nan")) - before[0],
            "client_cpu": cpu_seconds(clients) - before[1]}


def library_worker(root: str) -> None:
    """The commit the server makes for one single-event request, made directly: durable, ids not
    searched (the body named none), log maintenance after each append returns as a script has it
    (the server pays its maintenance too, on another thread). Reads a count per line, makes that
    many appends, prints their milliseconds."""
    ledger = Ledger.open(root)
    i = 0
    for line in sys.stdin:
        samples = []
        for _ in range(int(line)):
            i += 1
            e = ev.ValidationRecorded(target="lib", check=f"c{i}", passed=True)
            t0 = time.perf_counter()
            ledger.append([e], check_ids=False)
            samples.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{x:.3f}" for x in samples), flush=True)


def overhead(port: int, env: dict[str, str], root: str, tag: str, blocks: int, per: int = 25) -> dict[str, float]:
    """One client's single-event requests and the library's appends to the same ledger (run by
    the server's code), in alternating blocks of ``per``: both medians under the same load, which
    on a shared machine moves too much between two phases seconds apart. First blocks dropped."""
    worker = subprocess.Popen([sys.executable, __file__, "--library-worker", root], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    http_ms: list[float] = []
    lib_ms: list[float] = []
    acked = errors = 0
    try:
        for b in range(blocks + 1):
            conn.close()  # the server closes a connection idle for 5 s (the library's block may last that)
            conn.connect()
            for i in range(per):
                _, body = _body("single", tag, b * per + i)
                t0 = time.perf_counter()
                conn.request("POST", "/api/v1/events", body, headers)
                answer = conn.getresponse()
                data = answer.read()
                if b:
                    http_ms.append((time.perf_counter() - t0) * 1e3)
                if answer.status == 200:
                    acked += json.loads(data)["appended"]
                else:
                    errors += 1
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(f"{per}\n")
            worker.stdin.flush()
            samples = [float(x) for x in worker.stdout.readline().split()]
            if b:
                lib_ms += samples
    finally:
        conn.close()
        if worker.stdin is not None:
            worker.stdin.close()
        worker.wait(60)
    return {"http_p50": statistics.median(http_ms), "library_p50": statistics.median(lib_ms),
            "acked": acked, "errors": errors, "library_events": (blocks + 1) * per}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-c", "from lakeledger.cli.main import main; main()", "--root", root, "serve",
           "--port", str(port), "--token-env", "BENCH_TOKEN"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**(env or os.environ), "BENCH_TOKEN": TOKEN})
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


METRICS = ("batch_events_s", "single_req_s", "single16_p50", "many_req_s", "many_p50", "single1_p50",
           "library_p50", "lineage_req_s", "batch_cpu_us_event", "single_cpu_ms_req", "many_cpu_ms_req",
           "batch_clients_cpu", "many_clients_cpu")


class Target:
    """One server under test (this tree's code, or the baseline's) with its own root and counts."""

    def __init__(self, name: str, work: Path, pythonpath: str | None) -> None:
        self.name, self.root = name, str(work / name)
        self.env = dict(os.environ)
        if pythonpath:
            self.env["PYTHONPATH"] = pythonpath
        self.proc, self.port = start_server(self.root, self.env)
        self.rounds: dict[str, list[float]] = {k: [] for k in METRICS}
        self.acked = self.errors = self.library_events = 0

    def round(self, pool: mp.pool.Pool, r: int, seconds: float, many: int) -> None:
        pid = self.proc.pid
        b = load(pool, self.port, "batch", seconds, f"batch{r}", server=pid)
        s = load(pool, self.port, "single", seconds, f"single{r}", server=pid)
        m = load(pool, self.port, "single", seconds, f"many{r}", conns=many // PROCS, server=pid)
        lin = load(pool, self.port, "lineage", seconds, f"lineage{r}")
        one = overhead(self.port, self.env, self.root, f"one{r}", blocks=max(4, int(seconds)))
        lib = one["library_p50"]
        self.library_events += int(one["library_events"])
        got = {"batch_events_s": b["acked"] / b["seconds"], "single_req_s": s["requests"] / s["seconds"],
               "single16_p50": s["p50_ms"], "many_req_s": m["requests"] / m["seconds"], "many_p50": m["p50_ms"],
               "single1_p50": one["http_p50"], "library_p50": lib, "lineage_req_s": lin["requests"] / lin["seconds"],
               # server CPU per unit of work, and the clients' share of the machine (cores)
               "batch_cpu_us_event": b["server_cpu"] / max(b["acked"], 1) * 1e6,
               "single_cpu_ms_req": s["server_cpu"] / max(s["requests"], 1) * 1e3,
               "many_cpu_ms_req": m["server_cpu"] / max(m["requests"], 1) * 1e3,
               "batch_clients_cpu": b["client_cpu"] / b["seconds"], "many_clients_cpu": m["client_cpu"] / m["seconds"]}
        for k, v in got.items():
            self.rounds[k].append(v)
        self.acked += b["acked"] + s["acked"] + m["acked"] + int(one["acked"])
        errors = int(b["errors"] + s["errors"] + m["errors"] + one["errors"] + lin["errors"])
        self.errors += errors
        print(f"round {r + 1} {self.name:>6}: batches {got['batch_events_s']:,.0f} ev/s | single x16 "
              f"{got['single_req_s']:,.0f} req/s p50 {s['p50_ms']:.1f} ms | single x{many} "
              f"{got['many_req_s']:,.0f} req/s p50 {m['p50_ms']:.1f} ms | 1 client p50 "
              f"{one['http_p50']:.2f} ms vs library {lib:.2f} ms | lineage {got['lineage_req_s']:,.0f}"
              f" req/s | server CPU {got['batch_cpu_us_event']:.0f} us/event, {got['single_cpu_ms_req']:.2f} / "
              f"{got['many_cpu_ms_req']:.2f} ms/req (x16 / x{many}) | clients "
              f"{got['batch_clients_cpu']:.2f} / {got['many_clients_cpu']:.2f} cores | errors {errors} | "
              f"load {os.getloadavg()[0]:.1f}", flush=True)

    def finish(self, many: int, repeat: int, seconds: float) -> tuple[dict[str, float], bool]:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(120)
        frame = pl.read_delta(f"{self.root}/events", columns=["event_id", "kind", "stream"])
        rows = frame.filter(pl.col("kind") == "validation.recorded")
        dupes = rows.height - rows["event_id"].n_unique()
        lost = self.acked + self.library_events - rows["event_id"].n_unique()
        med = {k: statistics.median(v) for k, v in self.rounds.items()}
        print(f"\n{self.name}: medians of {repeat} rounds ({seconds:.0f} s each), 16 clients unless said:")
        print(f"  batches of 100:        {med['batch_events_s']:>9,.0f} events/s   (target >= 20,000)")
        print(f"  single-event requests: {med['single_req_s']:>9,.0f} requests/s (target >= 2,000), "
              f"p50 {med['single16_p50']:.1f} ms")
        print(f"  ... {many} clients:      {med['many_req_s']:>9,.0f} requests/s, p50 {med['many_p50']:.1f} ms")
        print(f"  one client, single:    p50 {med['single1_p50']:.2f} ms vs library append p50 "
              f"{med['library_p50']:.2f} ms: HTTP overhead {med['single1_p50'] - med['library_p50']:+.2f} ms "
              "(target <= 2 ms)")
        print(f"  OpenLineage POSTs:     {med['lineage_req_s']:>9,.0f} requests/s")
        print(f"  server CPU:            {med['batch_cpu_us_event']:.0f} us per event in batches, "
              f"{med['single_cpu_ms_req']:.2f} ms per single-event request (x16), {med['many_cpu_ms_req']:.2f} "
              f"(x{many}); the clients used {med['batch_clients_cpu']:.2f} cores (batches), "
              f"{med['many_clients_cpu']:.2f} (x{many}) of the 2")
        print(f"  raw table: {rows.height} validation rows, {dupes} duplicated, {lost} acknowledged but lost, "
              f"{self.errors} errors; server exit code {code}")
        return med, bool(dupes or lost or code != 0)


def make_baseline(ref: str, dest: Path) -> None:
    """Lay out ``ref``'s code (``git archive``) as an importable ``lakeledger`` package under ``dest``."""
    src, pkg = dest / "src", dest / "lakeledger"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    shutil.copytree(src / "facade", pkg)
    for sub in ("store", "ingest", "projections", "cli"):
        (pkg / sub).symlink_to(src / sub)


def main() -> None:
    if sys.argv[1:2] == ["--library-worker"]:
        library_worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--many", type=int, default=MANY, help=f"concurrent single-event clients (default {MANY})")
    parser.add_argument("--workdir")
    parser.add_argument("--baseline", help="directory with the lakeledger package to compare against")
    parser.add_argument("--make-baseline", metavar="REF", help="lay out git REF's code in --baseline and exit")
    args = parser.parse_args()
    if args.make_baseline:
        make_baseline(args.make_baseline, Path(args.baseline))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-serve-"))
    la = os.getloadavg()
    print(f"load average before: {la[0]:.1f} {la[1]:.1f} {la[2]:.1f}")
    targets: list[Target] = []
    try:
        targets.append(Target("after" if args.baseline else "served", work, None))
        if args.baseline:
            targets.append(Target("before", work, str(Path(args.baseline).resolve())))
        ctx = mp.get_context("spawn")
        with ctx.Pool(PROCS) as pool:
            for t in targets:
                t.acked += load(pool, t.port, "single", 1.0, "warmup")["acked"]
            for r in range(args.repeat):
                for t in targets if r % 2 == 0 else targets[::-1]:  # interleaved: A B, B A, ...
                    t.round(pool, r, args.seconds, args.many)
        results = [t.finish(args.many, args.repeat, args.seconds) for t in targets]
        if len(results) == 2:
            (after, _), (before, _) = results
            print("\nafter / before (medians, same run): " + ", ".join(
                f"{k} {after[k] / before[k]:.2f}x" for k in METRICS if before[k]))
        la = os.getloadavg()
        print(f"  load average after: {la[0]:.1f} {la[1]:.1f} {la[2]:.1f}")
        if any(bad for _, bad in results):
            sys.exit(1)
    finally:
        for t in targets:
            if t.proc.poll() is None:  # a failed run: do not leave servers behind
                t.proc.kill()
                t.proc.wait()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
