"""A training script written for MLflow. Run with TRACKER=mlflow or TRACKER=lakeledger.mlflow;
the code below is the same for both (only the import differs, chosen by the environment)."""

import importlib
import json
import os
import sys
import tempfile

mlflow = importlib.import_module(os.environ.get("TRACKER", "mlflow"))

mlflow.set_experiment("churn")
for lr in (0.01, 0.05, 0.1):
    with mlflow.start_run(run_name=f"lr-{lr}") as run:
        mlflow.log_param("lr", lr)
        mlflow.log_params({"depth": 6, "model": "gbm"})
        mlflow.set_tags({"team": "growth", "lr_band": "high" if lr > 0.05 else "low"})
        for step in range(20):
            mlflow.log_metric("loss", 1.0 / (step + 1) + lr, step=step)
        mlflow.log_metrics({"auc": 0.95 - lr, "f1": 0.7 + lr})
        with mlflow.start_run(run_name=f"lr-{lr}-fold", nested=True):
            mlflow.log_metric("auc", 0.9 - lr)
            mlflow.set_tag("fold", "1")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "weights.txt")
            with open(path, "w") as fh:
                fh.write(f"weights for lr={lr}\n")
            mlflow.log_artifact(path, artifact_path="model")
        assert mlflow.active_run().info.run_id == run.info.run_id
    if lr == 0.05:
        mlflow.register_model(f"{run.info.artifact_uri}/model", "churn-model")
assert mlflow.active_run() is None

filters = sys.argv[1:] or ["metrics.auc > 0.86 and params.model = 'gbm'"]
result = {}
for flt in filters:
    runs = mlflow.search_runs(filter_string=flt, order_by=["metrics.auc DESC"])
    result[flt] = [str(name) for name in runs["tags.mlflow.runName"]]
print(json.dumps(result))
