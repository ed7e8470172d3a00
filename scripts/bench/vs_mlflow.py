"""Durable append against MLflow's sqlite tracking store, measured in the same run (issue 15).

  python scripts/bench/vs_mlflow.py [--rounds 10] [--per-round 30] [--venv /tmp/lakeledger-mlflow-venv]
                                   [--logs /work/bench/ledger-1m,/work/bench/ledger-5m]

MLflow is not a dependency of lakeledger: it is installed (mlflow-skinny + SQLAlchemy +
alembic, what its sqlite store needs) into its own virtualenv under /tmp and driven as a
subprocess. Rounds alternate in shuffled order so both sides see the same machine load.
Prints p50/p99 and lakeledger/MLflow ratios (target <= 1.0) for:
- default durable ``Ledger.append([MetricLogged])`` vs ``MlflowClient.log_metric``;
- ``register_model_version`` vs ``create_model_version``;
- ``set_stage`` vs ``transition_model_version_stage``.
With ``--logs``, lakeledger runs on a young log (1k mixed events) and on copies of the given
ledgers (never written into) in the same interleaved rounds, each compared with MLflow.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakeledger.store import Ledger
from lakeledger.store import events as ev

MLFLOW_WORKER = r"""
import json, sys, tempfile, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
d = tempfile.mkdtemp()
mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
mlflow.set_registry_uri(f"sqlite:///{d}/mlflow.db")
c = mlflow.MlflowClient()
run = c.create_run(c.create_experiment("bench")).info.run_id
c.create_registered_model("fraud")
versions = []
step = 0
print("ready", flush=True)
for line in sys.stdin:
    op, n = line.split()
    out = []
    for _ in range(int(n)):
        t = time.perf_counter()
        if op == "metric":
            c.log_metric(run, "loss", 0.5, step=step); step += 1
        elif op == "register":
            versions.append(c.create_model_version("fraud", f"runs:/{run}/model", run_id=run).version)
        else:
            c.transition_model_version_stage("fraud", versions.pop(0), "Staging")
        out.append(time.perf_counter() - t)
    print(json.dumps(out), flush=True)
"""


def ensure_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    probe = subprocess.run([str(python), "-c", "import mlflow, sqlalchemy, alembic"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing MLflow into {path} (once)...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "mlflow-skinny", "sqlalchemy", "alembic"], check=True)
    return python


class Mlflow:
    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen([str(python), "-c", MLFLOW_WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def run(self, op: str, n: int) -> list[float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{op} {n}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


class Lakeledger:
    MODEL = "fraud"

    def __init__(self, root: str, model: str = "fraud") -> None:
        self.MODEL = model
        self.ledger = Ledger.open(root)
        self.run_id = self.ledger.run("bench").run_id
        self.step = 0
        self.versions: list[int] = []

    def run(self, op: str, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            if op == "metric":
                self.ledger.append([ev.MetricLogged(run_id=self.run_id, key="loss", value=0.5, step=self.step)])
                self.step += 1
            elif op == "register":
                self.versions.append(self.ledger.register_model_version(self.MODEL, run_id=self.run_id))
            else:
                self.ledger.set_stage(self.MODEL, self.versions.pop(0), "Staging")
            out.append(time.perf_counter() - t)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=30)
    parser.add_argument("--venv", default=str(Path(tempfile.gettempdir()) / "lakeledger-mlflow-venv"))
    parser.add_argument("--logs", default="", help="ledgers to copy and compare too (comma-separated)")
    args = parser.parse_args()
    mlflow = Mlflow(ensure_venv(Path(args.venv)))
    work = Path(tempfile.mkdtemp(prefix="lakeledger-vs-mlflow-"))
    sides: dict[str, object] = {"lakeledger": Lakeledger(str(work / "young"))}
    if args.logs:
        spec = importlib.util.spec_from_file_location("views_bench", Path(__file__).with_name("views.py"))
        views = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(views)  # type: ignore[union-attr]
        young = sides["lakeledger"].ledger  # type: ignore[attr-defined]
        views.declare(young)
        views.fill(young, views.workload(random.Random(7)), 1000, 100)
        sides = {"lakeledger 1k": sides["lakeledger"]}
        for source in filter(None, args.logs.split(",")):
            copy = work / Path(source).name
            shutil.copytree(source, copy, symlinks=True)
            sides[f"lakeledger {Path(source).name}"] = Lakeledger(str(copy), model="model7")
    sides["mlflow"] = mlflow
    samples: dict[tuple[str, str], list[float]] = {}
    for op in ("metric", "register", "stage"):
        for _ in range(args.rounds):
            names = list(sides)
            random.shuffle(names)
            for name in names:
                samples.setdefault((name, op), []).extend(sides[name].run(op, args.per_round))  # type: ignore[attr-defined]
    mlflow.close()
    shutil.rmtree(work, ignore_errors=True)
    labels = {"metric": ("Ledger.append (durable)", "log_metric"),
              "register": ("register_model_version", "create_model_version"),
              "stage": ("set_stage", "transition_model_version_stage")}
    print(f"{'operation':<56} {'p50 ms':>8} {'p99 ms':>8}")
    for op, (ll, ml) in labels.items():
        b = sorted(samples[("mlflow", op)])
        pb = statistics.median(b) * 1000
        print(f"{'MLflow sqlite ' + ml:<56} {pb:8.2f} {b[int(len(b) * 0.99)] * 1000:8.2f}")
        for name in sides:
            if name == "mlflow":
                continue
            a = sorted(samples[(name, op)])
            pa = statistics.median(a) * 1000
            print(f"{name + ' ' + ll:<56} {pa:8.2f} {a[int(len(a) * 0.99)] * 1000:8.2f}"
                  f"   ratio / MLflow {pa / pb:5.2f} (target <= 1.0)")

if __name__ == "__main__":
    main()
