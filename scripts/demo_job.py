"""A small, realistic pipeline reporting to lakeledger (run by scripts/demo).

A daily sales dataset lands; a feature config is declared; a training run logs params and
metrics, registers its model file as an artifact and a model version; the model is promoted
with optimistic stage checks; validation results are recorded. Then a retrain produces v2.
"""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import date, timedelta
from pathlib import Path

from lakeledger.store import ConcurrencyError, HashableConfig, Ledger


class FeatureConfig(HashableConfig):
    window_days: int = 7
    features: tuple[str, ...] = ("amount", "hour", "merchant_risk")


def train(ledger: Ledger, root: Path, cfg: FeatureConfig, seed: int) -> int:
    rng = random.Random(seed)
    config_hash = ledger.declare_config("fraud-model", cfg)  # owns the artifact of that name
    with ledger.run("train-fraud", experiment="fraud", params={"lr": 0.05, "seed": seed}) as run:
        loss = 1.0
        for step in range(200):  # buffered: microseconds per call, one commit at the end
            loss *= 0.98 + rng.random() * 0.01
            run.log_metric("loss", loss, step=step)
        run.log_metric("auc", 0.90 + rng.random() * 0.05)
        model_file = root / "models" / f"fraud-{seed}.bin"
        model_file.parent.mkdir(parents=True, exist_ok=True)
        model_file.write_bytes(rng.randbytes(2048))
        run.register_artifact(
            "fraud-model", f"models/{model_file.name}", config_hash=config_hash,
            content_hash=hashlib.sha256(model_file.read_bytes()).hexdigest(),
            size_bytes=model_file.stat().st_size, inputs=["dataset/sales"],
        )
        return ledger.register_model_version("fraud", artifact_uri=f"models/{model_file.name}",
                                             framework="numpy", run_id=run.run_id,
                                             metrics={"auc": 0.93})


def main(root: Path) -> None:
    ledger = Ledger.open(root)
    start = date(2025, 3, 1)
    ledger.declare_dataset("sales", freq="D", start=start, end=start + timedelta(days=9))
    for day in range(10):
        if day == 6:
            continue  # a day that never arrived: coverage shows the gap
        d = start + timedelta(days=day)
        ledger.observe_partition("sales", d.isoformat(), uri=f"landing/sales/date={d}/part-0.parquet",
                                 rows=1000 + day, bytes=52_000, checksum=f"sha256:{day:064x}")
    ledger.record_validation("dataset/sales", "row_count", True, severity="error", observed=9_045,
                             expected={"min": 5_000})

    v1 = train(ledger, root, FeatureConfig(), seed=1)
    ledger.set_stage("fraud", v1, "Staging", expect=None, reason="auc above bar")
    ledger.set_stage("fraud", v1, "Production", expect="Staging", reason="shadow test passed")
    ledger.set_alias("fraud", "champion", v1)

    v2 = train(ledger, root, FeatureConfig(window_days=14), seed=2)
    ledger.set_stage("fraud", v2, "Staging", expect=None)
    try:  # a stale decision: someone believes v1 is still in Staging
        ledger.set_stage("fraud", v1, "Archived", expect="Staging")
    except ConcurrencyError as exc:
        print(f"refused as expected: {exc}")
    ledger.record_validation("model/fraud", "auc_floor", False, severity="warning", observed=0.88,
                             expected=0.9, details={"note": "v2 slightly below the floor"})
    ledger.close()
    print(f"demo job done: ledger at {root} is at version {ledger.version}, model fraud v1={v1} v2={v2}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-ledger").resolve())
