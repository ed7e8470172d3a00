"""MLflow import benchmark: metric points imported per second. Prints medians and ratios.

  python scripts/bench/import_mlflow.py [--points 300000] [--runs 10] [--repeat 3] [--workdir DIR]

Builds an MLflow sqlite store with the real mlflow package (``--runs`` runs, 2 metric keys,
``--points`` metric points in all; reused when ``--workdir`` already holds one), then,
``--repeat`` times each:
- the whole import into a fresh ledger (``import_mlflow``: the sqlite tables read directly,
  points appended in bulk): metric points/s, wall and per process CPU second (target >= 200k/s);
- the comparison measured in the same run: reading the same histories through ``MlflowClient``
  alone (what any importer pays to MLflow) and the ledger append of the same events alone;
- a second import of the same store (nothing new): seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from lakeledger.ingest.importers.mlflow import import_mlflow  # noqa: E402
from lakeledger.store import Ledger  # noqa: E402


def build(uri: str, runs: int, points: int) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench")
    per_key = points // (runs * 2)
    t0 = 1_700_000_000_000
    for r in range(runs):
        rid = client.create_run(exp, run_name=f"run-{r}").info.run_id
        client.log_batch(rid, params=[Param("lr", str(0.01 * (r + 1)))])
        for key in ("loss", "auc"):
            batch = [Metric(key, 1.0 / (s + 1), t0 + s, s) for s in range(per_key)]
            for i in range(0, per_key, 1000):
                client.log_batch(rid, metrics=batch[i : i + 1000])
        client.set_terminated(rid)


def read_only(uri: str) -> tuple[float, int]:
    """Seconds to read every metric history through MlflowClient, and the points read."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    t0 = time.perf_counter()
    n = 0
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=1000):
            for key in run.data.metrics:
                n += len(client.get_metric_history(run.info.run_id, key))
    return time.perf_counter() - t0, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ll-bench-mlflow-"))
    uri = f"sqlite:///{work}/mlflow.db"
    if not (work / "mlflow.db").exists():
        t0 = time.perf_counter()
        build(uri, args.runs, args.points)
        print(f"built an MLflow store with {args.points:,} metric points in {time.perf_counter() - t0:.1f} s")
    import mlflow  # noqa: F401 - loaded before timing, as in a process that built the store

    whole, cpu, reads, writes, again = [], [], [], [], []
    for i in range(args.repeat):
        root = work / f"ledger-{i}"
        t0, c0 = time.perf_counter(), time.process_time()
        with Ledger.open(root) as led:
            summary = import_mlflow(led, uri)
        whole.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        points = summary.read["run.metric_logged"]
        t0 = time.perf_counter()
        with Ledger.open(root) as led:
            assert import_mlflow(led, uri).added == 0
        again.append(time.perf_counter() - t0)
        seconds, n = read_only(uri)
        assert n == points
        reads.append(seconds)
        # the ledger side alone: the same events appended to a fresh ledger, in the same batches
        with Ledger.open(root) as led:
            events = led.read()
        with Ledger.open(work / f"write-{i}") as led:
            t0 = time.perf_counter()
            for b in range(0, len(events), 200_000):
                led.append(events[b : b + 200_000])
            writes.append(time.perf_counter() - t0)
        shutil.rmtree(work / f"write-{i}", ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)

    med = statistics.median(whole)
    rate = points / med
    read_rate = points / statistics.median(reads)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"import: {points:,} metric points in {med:.2f} s (median of {args.repeat}): {rate:,.0f} points/s "
          f"(target >= 200,000/s); per CPU second of the process: {points / statistics.median(cpu):,.0f}")
    print(f"MlflowClient reading the same histories alone: {read_rate:,.0f} points/s; "
          f"import / read-alone = {rate / read_rate:.2f}")
    write_rate = points / statistics.median(writes)
    print(f"ledger appending the same events alone: {write_rate:,.0f} points/s; "
          f"import / write-alone = {rate / write_rate:.2f}")
    print(f"second import (nothing new): {statistics.median(again):.2f} s")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
