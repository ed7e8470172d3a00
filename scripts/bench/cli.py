"""Benchmark of the ``lakeledger`` command's start-up (issue 15).

Figures (real processes of the installed ``lakeledger`` executable, medians, order shuffled):
- ``lakeledger --help`` (target <= 150 ms) and ``--version``;
- ``lakeledger history --limit 1`` on a ledger of a few hundred commits (target <= 350 ms);
- the comparison measured in the same run: a bare ``python -c pass`` (the interpreter's own
  start, which no CLI can beat) and ``python -c "import polars, pyarrow, deltalake"`` (what every
  command paid before commands were loaded lazily). Each figure is printed as a ratio to them.

Usage: python scripts/bench/cli.py [--runs 15] [--commits 200]
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
from pathlib import Path

EXE = shutil.which("lakeledger") or str(Path(sys.executable).with_name("lakeledger"))
TARGETS_MS = {"--help": 150, "history --limit 1": 350}


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()

    from lakeledger.store import Ledger
    from lakeledger.store.events import MetricLogged

    root = tempfile.mkdtemp(prefix="lakeledger-bench-cli-")
    ledger = Ledger.open(root)
    for i in range(args.commits):
        ledger.append([MetricLogged(run_id="r", key="loss", value=1.0, step=i)], check_ids=False)

    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import data libraries": [sys.executable, "-c", "import polars, pyarrow, deltalake"],
        "--help": [EXE, "--help"],
        "--version": [EXE, "--version"],
        "history --limit 1": [EXE, "--root", root, "history", "--limit", "1"],
    }
    for argv in cases.values():  # warm the page cache once
        _time(argv)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        order = list(cases)
        random.shuffle(order)
        for name in order:
            samples[name].append(_time(cases[name]))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor, data = medians["python -c pass"], medians["import data libraries"]
    print(f"{'figure':<24}{'median ms':>10}{'/ python':>10}{'/ data libs':>12}  target")
    for name, ms in medians.items():
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"{target} {'ok' if ms <= target else 'MISSED'}"
        print(f"{name:<24}{ms:>10.0f}{ms / floor:>10.2f}{ms / data:>12.2f}  {verdict}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
