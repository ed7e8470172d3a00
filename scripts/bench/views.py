"""Benchmark of the read side on a realistic log (1M events by default; 5M for issue 15).

Prints medians of: full rebuild of all views, each in a child process (its wall time, CPU time
and peak RSS), chunked (``rebuild.CHUNK_EVENTS`` events at a time) against the whole log
reduced as one chunk (the comparison, interleaved in the same run); with more than 1M events
also the same figures at 1M, and the ratio of peak RSS (bounded memory: not proportional to
the log); incremental refresh of all views after 1k new events (at a quarter of the log and at
the full log: it must not grow with the log); ``show models --as-of`` an old version (API and
the real CLI process). Targets on 2 cores: full rebuild of 5M events <= 8 s with peak RSS
<= 1.2 GB (1M: <= 5 s), incremental <= 200 ms, as-of <= 2 s.

Usage: python scripts/bench/views.py [--events 1000000] [--root DIR] [--repeat 3] [--chunk N]
       python scripts/bench/views.py --ledger /work/bench/ledger-5m   (a copy of a built ledger)
       python scripts/bench/views.py --ledger /work/bench/ledger-5m --baseline /work/main
           (the full rebuild against another checkout's, interleaved: before/after a change)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from lakeledger.projections import api
from lakeledger.projections.engine import materialise, rebuild
from lakeledger.store import Ledger, LogSettings
from lakeledger.store import events as ev

STAGES = ["Staging", "Production", "Archived"]


def workload(rng: random.Random, prefix: str = "") -> Iterator[ev.Event]:
    """An endless, realistic mix: runs with params/metrics dominate, then partitions, artifacts,
    validations, configs and model registry traffic."""
    datasets = [f"ds{i}" for i in range(20)]
    day = {d: date(2023, 1, 1) for d in datasets}
    model_versions: dict[str, int] = {}
    while True:
        run = ev.RunStarted(
            job=rng.choice(["train", "etl", "score"]),
            experiment=f"exp{rng.randrange(30)}",
            params={"lr": rng.choice([0.1, 0.01]), "depth": rng.randrange(3, 9)},
        )
        yield run
        yield ev.ParamLogged(run_id=run.run_id, key="seed", value=rng.randrange(1000))
        for step in range(10):
            for key in ("loss", "acc", "auc", "f1"):
                yield ev.MetricLogged(run_id=run.run_id, key=key, value=rng.random(), step=step)
        yield ev.TagSet(run_id=run.run_id, key="team", value=rng.choice(["risk", "growth"]))
        name = f"art{rng.randrange(2000)}"
        if rng.random() < 0.3:
            yield ev.ConfigDeclared(name=name, config_hash=f"h{rng.randrange(3)}")
        yield ev.ArtifactRegistered(
            name=name,
            uri=f"artifacts/{name}/{run.run_id}.parquet",
            config_hash=f"h{rng.randrange(3)}",
            run_id=run.run_id,
            inputs=[f"dataset/{rng.choice(datasets)}"],
        )
        if rng.random() < 0.02:
            yield ev.ArtifactRetired(name=name, reason="superseded")
        d = rng.choice(datasets)
        for region in ("eu", "us"):
            yield ev.PartitionObserved(
                dataset=d, partition=f"region={region}/date={day[d]}", rows=1000
            )
        day[d] += timedelta(days=1)
        if rng.random() < 0.02:
            yield ev.PartitionRemoved(
                dataset=d, partition=f"region=eu/date={day[d] - timedelta(days=3)}"
            )
        yield ev.ValidationRecorded(
            target=f"dataset/{d}",
            check=rng.choice(["rows", "nulls", "schema"]),
            passed=rng.random() > 0.05,
            failed_count=rng.randrange(5),
            run_id=run.run_id,
        )
        if rng.random() < 0.1:
            model = f"{prefix}model{rng.randrange(50)}"
            model_versions[model] = model_versions.get(model, 0) + 1
            v = model_versions[model]
            yield ev.ModelVersionRegistered(
                model=model, version=v, run_id=run.run_id, metrics={"auc": rng.random()}
            )
            yield ev.ModelStageChanged(model=model, version=v, stage=rng.choice(STAGES))
            yield ev.ModelAliasSet(
                model=model, alias=rng.choice(["champion", "challenger"]), version=v
            )
        yield ev.RunFinished(
            run_id=run.run_id, status="success" if rng.random() > 0.1 else "failed"
        )


def declare(ledger: Ledger) -> None:
    ledger.append(
        [
            ev.DatasetDeclared(
                dataset=f"ds{i}", freq="D", start=date(2023, 1, 1), partition_key=["region", "date"]
            )
            for i in range(20)
        ]
    )


def fill(ledger: Ledger, stream: Iterator[ev.Event], n: int, batch: int) -> None:
    while n > 0:
        take = min(batch, n)
        ledger.append([next(stream) for _ in range(take)], check_ids=False)
        n -= take


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def incremental(ledger: Ledger, stream: Iterator[ev.Event], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        fill(ledger, stream, 1000, 1000)
        out.append(timed(lambda: materialise.refresh(ledger)))
    return out


def med(xs: list[float]) -> str:
    lo, hi = min(xs) * 1000, max(xs) * 1000
    return (
        f"median {statistics.median(xs) * 1000:8.1f} ms  (min {lo:.1f}, max {hi:.1f}, n={len(xs)})"
    )


def child_rebuild(root: Path, chunk: int, baseline: Path | None = None) -> dict[str, float]:
    """One full rebuild in a fresh process: (wall s of the rebuild, CPU s, peak RSS MB).
    Linux only (``/proc/self/status``), like the rest of the benchmarks' RSS figures.
    ``baseline``: run by that checkout's code (its ``.venv`` and this script there)."""
    python, script = sys.executable, __file__
    if baseline is not None:
        python, script = str(baseline / ".venv/bin/python"), str(baseline / "scripts/bench/views.py")
    cmd = [python, script, "--child", str(root), "--chunk", str(chunk)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"rebuild child failed ({status}): {out}")
    result = json.loads(out)
    # The child's own high-water mark (VmHWM): wait4's ru_maxrss also counts the parent's
    # pages the child had between fork and exec, i.e. this (possibly large) process.
    return {"seconds": result["seconds"], "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": result["hwm_kb"] / 1024}


def full_rebuilds(
    root: Path, chunk: int, repeat: int, baseline: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """Chunked and whole-log rebuilds (or, with ``baseline``, chunked by that checkout's
    code), interleaved (A, B, A, B...)."""
    chunked, other = [], []
    for _ in range(repeat):
        chunked.append(child_rebuild(root, chunk))
        other.append(child_rebuild(root, chunk, baseline) if baseline else child_rebuild(root, 10**12))
    return chunked, other


def report_full(label: str, chunk: int, chunked: list[dict], whole: list[dict], target_s: float,
                target_mb: float | None, baseline: Path | None = None) -> None:
    def m(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    target = f"target <= {target_s:.0f} s" + (f", <= {target_mb:.0f} MB" if target_mb else "")
    print(f"full rebuild, {label}, chunks of {chunk:,} events (child process)")
    print(f"  chunked      {med([r['seconds'] for r in chunked])}  cpu {m(chunked, 'cpu'):.1f} s"
          f"  peak RSS {m(chunked, 'rss_mb'):.0f} MB   {target}")
    name, what = ("baseline", f"comparison: {baseline}") if baseline else ("whole log", "comparison: one chunk")
    print(f"  {name:12s} {med([r['seconds'] for r in whole])}  cpu {m(whole, 'cpu'):.1f} s"
          f"  peak RSS {m(whole, 'rss_mb'):.0f} MB   ({what})")
    print(f"  ratio chunked / {name}: time {m(chunked, 'seconds') / m(whole, 'seconds'):.2f}, "
          f"cpu {m(chunked, 'cpu') / m(whole, 'cpu'):.2f}, "
          f"peak RSS {m(chunked, 'rss_mb') / m(whole, 'rss_mb'):.2f}")


def events_in(ledger: Ledger) -> int:
    return ledger.log.scan().select("event_id").collect().height


def from_ledger(args: argparse.Namespace) -> None:
    """Full rebuilds and incremental refresh on a copy of an already built ledger."""
    for source in args.ledger:
        root = Path(tempfile.mkdtemp(prefix="ll-bench-")) / "ledger"
        shutil.copytree(Path(source) / "events", root / "events")
        ledger = Ledger.open(root, settings=LogSettings(compact_every=50))
        count = events_in(ledger)
        target = (8, 1200) if count >= 5_000_000 else (5, None)
        chunked, whole = full_rebuilds(root, args.chunk, args.repeat, args.baseline)
        report_full(f"{count:,} events ({source})", args.chunk, chunked, whole, *target, args.baseline)
        materialise.refresh(ledger)
        large = incremental(ledger, workload(random.Random(11), prefix="b"), args.repeat)
        print(f"refresh after 1k new events            {med(large)}   target <= 200 ms")
        shutil.rmtree(root.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=rebuild.CHUNK_EVENTS, help="events per chunk")
    parser.add_argument("--root", help="keep the ledger here (default: a temporary directory)")
    parser.add_argument("--ledger", action="append", help="copy this built ledger instead")
    parser.add_argument("--baseline", type=Path, help="with --ledger: compare the chunked rebuild "
                        "with this checkout's (its .venv), not with the whole log as one chunk")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rebuild.CHUNK_EVENTS = args.chunk
        ledger = Ledger.open(args.child, create=False)
        seconds = timed(lambda: materialise.refresh(ledger, full=True))
        status = Path("/proc/self/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        print(json.dumps({"seconds": seconds, "hwm_kb": hwm}))
        return
    if args.ledger:
        from_ledger(args)
        return
    root = Path(args.root or tempfile.mkdtemp(prefix="ll-bench-")) / "ledger"
    # realistic log management: compaction on the default cadence, so files are few and large
    ledger = Ledger.open(root, settings=LogSettings(compact_every=50))
    rng = random.Random(7)
    stream = workload(rng)
    declare(ledger)

    quarter = args.events // 4
    t = timed(lambda: fill(ledger, stream, quarter, args.batch))
    old_version = ledger.version
    print(f"generated {quarter:,} events in {t:.1f} s (version {ledger.version})")
    materialise.refresh(ledger)
    small = incremental(ledger, stream, args.repeat)

    rest = args.events - quarter - 1000 * args.repeat
    at_1m: tuple[list[dict], list[dict]] | None = None
    if args.events > 1_000_000:
        t = timed(lambda: fill(ledger, stream, 1_000_000 - quarter - 1000 * args.repeat, args.batch))
        rest -= 1_000_000 - quarter - 1000 * args.repeat
        at_1m = full_rebuilds(root, args.chunk, args.repeat)
    t = timed(lambda: fill(ledger, stream, rest, args.batch))
    total = events_in(ledger)
    print(f"generated the rest in {t:.1f} s: {total:,} events, version {ledger.version}")

    full = full_rebuilds(root, args.chunk, args.repeat)
    large = incremental(ledger, stream, args.repeat)
    as_of = [timed(lambda: api.view(ledger, "models", as_of=old_version)) for _ in range(3)]
    exe = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))
    cmd = [exe, "--root", str(root), "show", "models", "--as-of", str(old_version), "--json"]
    cli = [timed(lambda: subprocess.run(cmd, check=True, capture_output=True)) for _ in range(3)]

    print(f"events in log                          {events_in(ledger):,}")
    if at_1m:
        report_full("at 1,000,000 events", args.chunk, *at_1m, 5, None)
    report_full(f"{total:,} events", args.chunk, *full, 8 if total >= 5_000_000 else 5,
                1200 if total >= 5_000_000 else None)
    if at_1m:
        ratio = statistics.median(r["rss_mb"] for r in full[0]) / statistics.median(
            r["rss_mb"] for r in at_1m[0]
        )
        print(f"  peak RSS {total:,} / 1M events (chunked): {ratio:.2f}   target: bounded")
    print(f"refresh after 1k new events, 1/4 log   {med(small)}")
    print(f"refresh after 1k new events, full log  {med(large)}   target <= 200 ms")
    ratio = statistics.median(large) / statistics.median(small)
    print(f"  ratio full log / quarter log         {ratio:.2f}")
    print(f"show models --as-of {old_version} (API)         {med(as_of)}   target <= 2000 ms")
    print(f"show models --as-of {old_version} (CLI process) {med(cli)}")
    if not args.root:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
