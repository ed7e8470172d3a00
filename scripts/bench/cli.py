"""Benchmark of the ``lakeledger`` command's start-up (issue 15).

Figures (real processes of the installed ``lakeledger`` executable, medians, order shuffled):
- ``lakeledger --help`` (target <= 150 ms) and ``--version``;
- ``lakeledger history --limit 1`` on a ledger of a few hundred commits, checkpointed and
  compacted (target <= 350 ms), and with ``--ledger`` on a copy of a big one (one commit added);
- the comparison measured in the same run: a bare ``python -c pass`` (the interpreter's own
  start, which no CLI can beat), ``python -c "import polars, pyarrow, deltalake"`` (what every
  command paid before commands were loaded lazily) and ``history from the rows`` (what ``history``
  did before it read the commit files: open the ledger, group every row). Each figure is printed
  as a ratio to the first two. The load average is printed before and after (shared machine).

Usage: python scripts/bench/cli.py [--runs 15] [--commits 200] [--ledger /work/bench/ledger-1m]
"""

from __future__ import annotations

import argparse
import os
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


# The children use a bytecode cache, as an installed package has its .pyc files: with
# PYTHONDONTWRITEBYTECODE in the environment (as on the project's machines) every start compiled
# lakeledger's modules again (60-100 ms), which no user of an installed package pays.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--ledger", help="also time history on a copy of this ledger (read-only)")
    args = parser.parse_args()

    from lakeledger.store import Ledger
    from lakeledger.store.events import MetricLogged

    work = tempfile.mkdtemp(prefix="lakeledger-bench-cli-")
    ENV["PYTHONPYCACHEPREFIX"] = os.path.join(work, "pycache")
    root = os.path.join(work, "small")
    ledger = Ledger.open(root)
    for i in range(args.commits):
        ledger.append([MetricLogged(run_id="r", key="loss", value=1.0, step=i)], check_ids=False)
    ledger.close()
    rows_way = "import sys; from lakeledger.store import Ledger; Ledger.open(sys.argv[1]).history(1)"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import data libraries": [sys.executable, "-c", "import polars, pyarrow, deltalake"],
        "--help": [EXE, "--help"],
        "--version": [EXE, "--version"],
        "history --limit 1": [EXE, "--root", root, "history", "--limit", "1"],
        "history from the rows": [sys.executable, "-c", rows_way, root],
    }
    if args.ledger:
        big = os.path.join(work, "big")
        shutil.copytree(args.ledger, big)
        with Ledger.open(big) as copy:  # its newest commit now carries the history entry
            copy.append([MetricLogged(run_id="r", key="loss", value=1.0, step=0)], check_ids=False)
            events = copy.events().select("event_id").collect().height
        cases[f"history --limit 1, {events:,} events"] = [EXE, "--root", big, "history", "--limit", "1"]
        cases[f"history from the rows, {events:,} ev."] = [sys.executable, "-c", rows_way, big]
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
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
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'figure':<38}{'median ms':>10}{'/ python':>10}{'/ data libs':>12}  target (ms)")
    for name, ms in medians.items():
        target = TARGETS_MS.get(name.split(",")[0])
        verdict = "" if target is None else f"{target} {'ok' if ms <= target else 'MISSED'}"
        print(f"{name:<38}{ms:>10.0f}{ms / floor:>10.2f}{ms / data:>12.2f}  {verdict}")
    print(f"history --limit 1 against the rows' way (same ledger): "
          f"{medians['history --limit 1'] / medians['history from the rows']:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
