"""Append benchmarks for the event log (issue: foundation). Prints medians and ratios.

  python scripts/bench/append.py [--big-commits 10000] [--workdir DIR]
  python scripts/bench/append.py --scaling [--logs /work/bench/ledger-1m,/work/bench/ledger-5m]

- single durable append p50/p99 on a log of 1k events in 100 commits, and on one of 100k
  events in 10k commits (built through the real append path, so log management ran), and the
  ratio of the two p50s: a ledger lives for years of commits;
- buffered ``run.log_metric`` calls/s; flush events/s;
- 8 processes appending at once: events/s, errors, and an exact count of what landed.
Targets (2 cores): p50 <= 10 ms, ratio <= 1.5, log_metric >= 200k/s, flush >= 300k/s, 0 errors.

``--scaling`` (issue 15): the same calls on a young log (1k mixed events, the views bench's
workload) and on copies of big prebuilt ledgers (``--logs``, never written into), rounds
interleaved in shuffled order (the copies first brought to the current file layout by compaction
rounds): default durable ``append`` (id check on), an idempotent retry of
an old id, ``register_model_version`` and ``set_stage`` of a model whose versions are spread over
the whole log. Prints p50, p99, p99/p50 and each log's p50 against the young log's
(targets: big/young <= 1.2, p99 <= 5x p50).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lakeledger.store import Ledger, LogSettings
from lakeledger.store import events as ev


def build(root: str, commits: int, per_commit: int) -> Ledger:
    ledger = Ledger.open(root)
    for c in range(commits):
        ledger.append([ev.MetricLogged(run_id=f"r{c % 50}", key="loss", value=c, step=i)
                       for i in range(per_commit)], check_ids=False)
    return ledger


def single_append_latency(ledger: Ledger, n: int = 300) -> tuple[float, float]:
    samples = []
    for i in range(n):
        e = ev.ValidationRecorded(target="bench", check=f"c{i}", passed=True)
        t0 = time.perf_counter()
        ledger.append([e], check_ids=False)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


def buffered_calls_per_s(root: str, n: int = 300_000) -> tuple[float, float]:
    ledger = Ledger.open(root, max_buffered_events=10**9, max_buffer_delay_s=0)
    run = ledger.run("bench")
    t0 = time.perf_counter()
    for i in range(n):
        run.log_metric("loss", 0.5, step=i)
    calls = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ledger.flush()
    flush = n / (time.perf_counter() - t0)
    return calls, flush


def _writer(root: str, worker: int, n: int, batch: int) -> tuple[int, int]:
    ledger = Ledger.open(root)
    errors = 0
    for start in range(0, n, batch):
        try:
            ledger.append([ev.ValidationRecorded(target=f"w{worker}", check=f"c{i}", passed=True)
                           for i in range(start, min(n, start + batch))], check_ids=False)
        except Exception:  # noqa: BLE001 - counted, the bench reports it
            errors += 1
    return n, errors


def multi_process(root: str, procs: int = 8, n: int = 5000, batch: int = 100) -> tuple[float, int, int]:
    Ledger.open(root)
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs) as pool:
        pool.starmap(_writer, [(root, -1, 1, 1)] * procs)  # warm up: imports and table load
        t0 = time.perf_counter()
        results = pool.starmap(_writer, [(root, w, n, batch) for w in range(procs)])
        elapsed = time.perf_counter() - t0
    errors = sum(e for _, e in results)
    landed = Ledger.open(root).events(kind="validation.recorded").collect().height - procs
    return procs * n / elapsed, errors, landed


def _views_workload():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("views_bench", Path(__file__).with_name("views.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class Scaled:
    """One ledger of the scaling bench and the state its calls need."""

    MODEL = "model7"  # in the views workload: versions spread over every file of the log

    def __init__(self, name: str, root: str, settings: LogSettings | None = None) -> None:
        self.name = name
        self.ledger = Ledger.open(root, settings=settings)
        self.run_id = self.ledger.run("bench").run_id
        first = self.ledger.events(since=None).head(50).collect()
        self.old = self.ledger.read(kind=first["kind"][-1], stream=first["stream"][-1])[0]
        self.step = 0
        self.versions: list[int] = []

    def call(self, op: str) -> float:
        t0 = time.perf_counter()
        if op == "append":
            self.ledger.append([ev.MetricLogged(run_id=self.run_id, key="loss", value=0.5, step=self.step)])
            self.step += 1
        elif op == "retry":
            done = self.ledger.append([self.old])  # type: ignore[list-item]
            assert done.skipped, "the old id was not recognised"
        elif op == "register":
            self.versions.append(self.ledger.register_model_version(self.MODEL, run_id=self.run_id))
        else:
            self.ledger.set_stage(self.MODEL, self.versions.pop(0), "Staging")
        return time.perf_counter() - t0


def _lay_out(root: str) -> int:
    """Run compaction rounds until none is left to do: a ledger built by an earlier landing has
    files of one row group, which maintenance rewrites one per round (``store/compaction.py``)."""
    from lakeledger.store.compaction import compact

    ledger = Ledger.open(root, create=False)
    rounds = 0
    while compact(ledger.log) is not None:
        rounds += 1
    ledger.close()
    return rounds


def scaling(work: Path, logs: list[str], rounds: int, per_round: int, maintain: bool = True) -> None:
    settings = LogSettings(auto_maintain=maintain)
    young = work / "young"
    ledger = Ledger.open(str(young))
    bench = _views_workload()
    bench.declare(ledger)
    bench.fill(ledger, bench.workload(random.Random(7)), 1000, 100)
    sides = [Scaled("1k", str(young), settings)]
    for source in logs:
        if not Path(source).exists():
            print(f"skipping {source}: not there")
            continue
        copy = work / Path(source).name
        shutil.copytree(source, copy, symlinks=True)
        rewritten = _lay_out(str(copy))
        if rewritten:
            print(f"{source}: {rewritten} compaction rounds brought its files to the current layout "
                  "(what maintenance does on its cadence after an upgrade)")
        n = Ledger.open(str(copy), create=False).events().select("event_id").collect().height
        size = f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"
        sides.append(Scaled(f"{size} {Path(source).name}", str(copy), settings))
    for side in sides:  # warm up: first load, caches
        for op in ("append", "retry", "register", "stage"):
            side.call(op)
    samples: dict[tuple[str, str], list[float]] = {}
    ops = ("append", "retry", "register", "stage")
    for op in ops:
        for _ in range(rounds):
            order = list(sides)
            random.shuffle(order)
            for side in order:
                samples.setdefault((op, side.name), []).extend(side.call(op) for _ in range(per_round))
    print(f"{'operation':<10} {'log':<22} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'p50/1k':>8}")
    for op in ops:
        base = statistics.median(samples[(op, sides[0].name)])
        for side in sides:
            xs = sorted(samples[(op, side.name)])
            p50, p99 = statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]
            print(f"{op:<10} {side.name:<22} {p50 * 1e3:8.2f} {p99 * 1e3:8.2f} {p99 / p50:8.2f} {p50 / base:8.2f}")
    print("targets: p50/1k <= 1.2 (flat), p99/p50 <= 5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-commits", type=int, default=10_000)
    parser.add_argument("--workdir")
    parser.add_argument("--scaling", action="store_true", help="1k vs big logs (issue 15)")
    parser.add_argument("--logs", default="/work/bench/ledger-1m,/work/bench/ledger-5m",
                        help="ledgers to copy for --scaling (comma-separated)")
    parser.add_argument("--no-maintenance", action="store_true",
                        help="--scaling with log maintenance off (what the p99 owes to it)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="llbench-"))
    try:
        if args.scaling:
            scaling(work, [s for s in args.logs.split(",") if s], args.rounds, args.per_round,
                    maintain=not args.no_maintenance)
            return
        t0 = time.perf_counter()
        small = build(str(work / "small"), 100, 10)
        p50_small, p99_small = single_append_latency(small)
        print(f"single append, 1k events / 100 commits:   p50 {p50_small:6.2f} ms  p99 {p99_small:6.2f} ms")
        big = build(str(work / "big"), args.big_commits, 10)
        built = time.perf_counter() - t0
        p50_big, p99_big = single_append_latency(big)
        print(f"single append, {args.big_commits * 10 // 1000}k events / {args.big_commits // 1000}k commits: "
              f"p50 {p50_big:6.2f} ms  p99 {p99_big:6.2f} ms   (log built in {built:.0f} s)")
        print(f"ratio p50 big/small: {p50_big / p50_small:.2f}  (target <= 1.5)")
        calls, flush = buffered_calls_per_s(str(work / "buffered"))
        print(f"buffered run.log_metric: {calls:,.0f} calls/s  (target >= 200k)")
        print(f"flush: {flush:,.0f} events/s  (target >= 300k)")
        rate, errors, landed = multi_process(str(work / "multi"))
        print(f"8 processes x 5000 events (batches of 100): {rate:,.0f} events/s, errors {errors}, "
              f"landed {landed} of 40000 {'(exact)' if landed == 40000 else '(MISMATCH)'}")
        if errors or landed != 40000:
            sys.exit(1)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
