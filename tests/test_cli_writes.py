"""Writes from the shell, end to end through the real ``lakeledger`` executable (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path

from lakeledger import Ledger


def _json(result):  # type: ignore[no-untyped-def]
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_runs_experiments_models_validations_from_a_shell(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = ["--root", str(tmp_path / "l")]
    assert (
        _json(cli(*root, "experiments", "create", "churn", "--tag", "owner=risk", "--json"))[
            "experiment"
        ]
        == "churn"
    )
    parent = _json(
        cli(*root, "runs", "start", "--experiment", "churn", "--name", "sweep", "--json")
    )
    ids = []
    for lr, auc in ((0.05, 0.95), (0.1, 0.85), (0.5, 0.7)):
        started = _json(
            cli(
                *root,
                "runs",
                "start",
                "--experiment",
                "churn",
                "--parent",
                parent["run_id"][:20],
                "--param",
                f"lr={lr}",
                "--param",
                "opt=adam",
                "--tag",
                "team=risk",
                "--json",
            )
        )
        run_id = started["run_id"]
        assert started["parent_run_id"] == parent["run_id"]
        for step, value in enumerate((auc - 0.2, auc - 0.1, auc)):
            logged = _json(
                cli(
                    *root,
                    "runs",
                    "log",
                    run_id,
                    "--metric",
                    f"auc={value}",
                    "--step",
                    str(step),
                    "--json",
                )
            )
            assert logged == {"run_id": run_id, "events": 1, "version": logged["version"]}
        ended = _json(cli(*root, "runs", "end", run_id, "--json"))
        assert ended["status"] == "success"
        ids.append(run_id)
    _json(cli(*root, "runs", "log", ids[2], "--tag", "team=x", "--json"))

    # typed values: lr is a number, opt text; metrics are numbers
    shown = _json(cli(*root, "runs", "show", ids[0], "--json"))
    assert shown["params"] == {"lr": 0.05, "opt": "adam"}
    assert shown["metrics"] == {"auc": 0.95} and shown["parent_run_id"] == parent["run_id"]
    assert _json(cli(*root, "runs", "show", parent["run_id"], "--json"))["children"] == ids

    found = _json(
        cli(
            *root,
            "runs",
            "list",
            "--filter",
            "metrics.auc > 0.8 and params.lr = '0.05' and tags.team != 'x' "
            "and attributes.status = 'success'",
            "--json",
        )
    )
    assert [r["run_id"] for r in found] == [ids[0]]
    best = _json(
        cli(
            *root,
            "runs",
            "list",
            "--filter",
            "params.lr > 0 OR tags.team = 'x'",
            "--order-by",
            "metrics.auc DESC",
            "--limit",
            "2",
            "--columns",
            "run_id,metrics.auc,params.lr",
            "--json",
        )
    )
    assert best == [
        {"run_id": ids[0], "metrics.auc": 0.95, "params.lr": "0.05"},
        {"run_id": ids[1], "metrics.auc": 0.85, "params.lr": "0.1"},
    ]
    table = cli(
        *root, "runs", "list", "--order-by", "metrics.auc DESC", "--columns", "run_id,metrics.auc"
    )
    assert table.code == 0 and table.out.splitlines()[0].split() == ["RUN_ID", "METRICS.AUC"]

    history = _json(cli(*root, "runs", "history", ids[0][:24], "auc", "--json"))
    assert [(p["step"], round(p["value"], 6)) for p in history] == [(0, 0.75), (1, 0.85), (2, 0.95)]

    # delete and restore are events: the run leaves the views, the audit keeps it
    deleted = _json(cli(*root, "runs", "delete", ids[2], "--reason", "bad data", "--json"))
    assert deleted["deleted"] is True
    listed = _json(cli(*root, "runs", "list", "--json"))
    assert ids[2] not in {r["run_id"] for r in listed} and len(listed) == 3
    audit = _json(cli(*root, "audit", f"run/{ids[2]}", "--json"))
    assert [e["kind"] for e in audit][-1] == "run.deleted"
    assert cli(*root, "runs", "show", ids[2]).code == 2
    _json(cli(*root, "runs", "restore", ids[2], "--json"))
    assert ids[2] in {r["run_id"] for r in _json(cli(*root, "runs", "list", "--json"))}

    experiments = _json(cli(*root, "experiments", "list", "--json"))
    assert [(e["experiment"], e["runs"]) for e in experiments] == [("churn", 4)]

    # models: register from a run (prefix), stage, alias; filter like MLflow's model search
    for run_id in ids:
        _json(
            cli(
                *root,
                "models",
                "register",
                "churn-model",
                "--run",
                run_id[:26],
                "--metric",
                "auc=0.9",
                "--json",
            )
        )
    assert (
        _json(cli(*root, "models", "stage", "churn-model", "2", "Production", "--json"))[
            "previous_stage"
        ]
        == "None"
    )
    _json(cli(*root, "models", "alias", "churn-model", "champion", "2", "--json"))
    prod = _json(
        cli(
            *root,
            "models",
            "list",
            "--filter",
            "name = 'churn-model' and current_stage = 'Production' and aliases = 'champion'",
            "--json",
        )
    )
    assert [(m["version"], m["run_id"]) for m in prod] == [(2, ids[1])]

    recorded = _json(
        cli(
            *root,
            "validations",
            "record",
            "dataset/sales",
            "rows",
            "--failed",
            "--observed",
            "3",
            "--expected",
            '{"min": 10}',
            "--json",
        )
    )
    assert recorded["passed"] is False
    failing = _json(cli(*root, "show", "validations", "--filter", "passed = false", "--json"))
    assert failing[0]["observed"] == 3 and failing[0]["expected"] == {"min": 10}

    # artifacts: every registration kept; latest and best-by-metric are queries
    ledger = Ledger.open(tmp_path / "l")
    for run_id in ids:
        ledger.register_artifact("churn-model", f"s3://bucket/models/{run_id}.pkl", run_id=run_id)
    ledger.close()
    every = _json(cli(*root, "artifacts", "list", "churn-model", "--json"))
    assert [(a["version"], a["run_id"]) for a in every] == [(1, ids[0]), (2, ids[1]), (3, ids[2])]
    best_one = _json(
        cli(
            *root,
            "artifacts",
            "list",
            "--filter",
            "name = 'churn-model'",
            "--order-by",
            "metrics.auc DESC",
            "--limit",
            "1",
            "--json",
        )
    )
    assert best_one[0]["run_id"] == ids[0]
    per_version = _json(
        cli(*root, "artifacts", "list", "--model", "churn-model", "--version", "2", "--json")
    )
    assert [a["run_id"] for a in per_version] == [ids[1]]
    assert _json(cli(*root, "runs", "show", ids[0], "--json"))["artifacts"] == ["churn-model"]


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = ["--root", str(tmp_path / "l")]
    one = _json(cli(*root, "runs", "start", "--json"))["run_id"]
    two = _json(cli(*root, "runs", "start", "--json"))["run_id"]
    version = Ledger.open(tmp_path / "l").version
    common = next(i for i in range(32) if one[i] != two[i])
    bad = [
        (["runs", "log", one[:common], "--metric", "auc=1"], "ambiguous"),
        (["runs", "log", "zzz", "--metric", "auc=1"], "no run 'zzz'"),
        (["runs", "log", one, "--metric", "auc=high"], "must be a number"),
        (["runs", "log", one], "at least one"),
        (["runs", "log", one, "--param", "novalue"], "KEY=VALUE"),
        (["runs", "list", "--filter", "metrics.auc >"], "at column 14"),
        (["show", "runs", "--filter", "metrics.auc = 'x'"], "is a number"),
        (["runs", "list", "--order-by", "metrics.auc SIDEWAYS"], "--order-by"),
        (["models", "stage", "m", "0", "Production"], "versions start at 1"),
    ]
    for args, words in bad:
        result = cli(*root, *args)
        assert result.code == 2, (args, result.err)
        assert words in result.err and "Traceback" not in result.err, (args, result.err)
    assert Ledger.open(tmp_path / "l").version == version


def test_version_flag(cli) -> None:  # type: ignore[no-untyped-def]
    import lakeledger

    result = cli("--version")
    assert result.code == 0 and result.out.strip() == f"lakeledger {lakeledger.__version__}"
