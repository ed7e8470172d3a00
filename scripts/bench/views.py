"""Benchmark of the read side on a realistic 1M-event log.

Prints medians of: full rebuild of all views, incremental refresh of all views after 1k new
events (at a quarter of the log and at the full log: the time must not grow with the log),
and ``show models --as-of`` an old version (API and the real CLI process).
Targets on 2 cores: full <= 5 s, incremental <= 200 ms, as-of <= 2 s.

Usage: python scripts/bench/views.py [--events 1000000] [--root DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
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
from lakeledger.projections.engine import materialise
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", help="keep the ledger here (default: a temporary directory)")
    args = parser.parse_args()
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

    t = timed(lambda: fill(ledger, stream, args.events - quarter - 1000 * args.repeat, args.batch))
    total = ledger.log.scan().select("event_id").collect().height
    print(f"generated the rest in {t:.1f} s: {total:,} events, version {ledger.version}")

    full = [timed(lambda: materialise.refresh(ledger, full=True)) for _ in range(3)]
    large = incremental(ledger, stream, args.repeat)
    as_of = [timed(lambda: api.view(ledger, "models", as_of=old_version)) for _ in range(3)]
    exe = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))
    cmd = [exe, "--root", str(root), "show", "models", "--as-of", str(old_version), "--json"]
    cli = [timed(lambda: subprocess.run(cmd, check=True, capture_output=True)) for _ in range(3)]

    count = ledger.log.scan().select("event_id").collect().height
    print(f"events in log                          {count:,}")
    print(f"full rebuild, all 6 views              {med(full)}   target <= 5000 ms")
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
