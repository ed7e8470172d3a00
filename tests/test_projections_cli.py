"""The read-side commands through the real ``lakeledger`` executable."""

from __future__ import annotations

import json
from pathlib import Path

from lakeledger.store import Ledger


def _seed(root: Path) -> tuple[str, str]:
    ledger = Ledger.open(root)
    digest = ledger.declare_config("features", {"window": 7})
    (root / "out").mkdir()
    (root / "out" / "features.parquet").write_bytes(b"x")
    with ledger.run("train", params={"lr": 0.1}) as one:
        one.log_metric("loss", 0.5)
        one.register_artifact("features", "out/features.parquet", config_hash=digest)
    with ledger.run("train", params={"lr": 0.2}) as two:
        two.log_metric("loss", 0.4)
    ledger.register_model_version("fraud", run_id=two.run_id)
    ledger.set_stage("fraud", 1, "Production")
    ledger.declare_dataset("sales", start="2025-03-01", end="2025-03-02")
    ledger.observe_partition("sales", "date=2025-03-01")
    ledger.observe_partition("sales", "date=2025-03-02")
    ledger.record_validation("dataset/sales", "rows", True)
    ledger.close()
    return one.run_id, two.run_id


def test_check_gate_exit_codes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "l"
    _seed(root)
    ok = cli("--root", str(root), "check", "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out) == {"ok": True, "problems": [], "warnings": []}

    ledger = Ledger.open(root)
    ledger.record_validation("dataset/sales", "rows", False, failed_count=4)
    ledger.remove_partition("sales", "date=2025-03-02")
    (root / "out" / "features.parquet").unlink()
    bad = cli("--root", str(root), "check", "--json")
    assert bad.code == 1
    problems = {(p["problem"], p["subject"]) for p in json.loads(bad.out)["problems"]}
    assert problems == {
        ("missing", "features"),
        ("uncovered", "sales"),
        ("failing", "dataset/sales:rows"),
    }
    text = cli("--root", str(root), "check")
    assert (
        text.code == 1 and "3 problem(s) found" in text.out and "first gap 2025-03-02" in text.out
    )
    # as of before the damage, the gate was green for coverage and validations
    assert cli("--root", str(root), "check", "--as-of", "nonsense").code == 2


def test_show_rebuild_audit_diff_compare(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "l"
    one, two = _seed(root)
    base = ["--root", str(root)]
    rebuilt = cli(*base, "rebuild", "--json")
    assert rebuilt.code == 0 and {r["view"] for r in json.loads(rebuilt.out)} >= {"runs", "models"}
    assert all(r["mode"] == "full" for r in json.loads(rebuilt.out))
    again = json.loads(cli(*base, "rebuild", "runs", "--json").out)
    assert again == [
        {
            "view": "runs",
            "through": again[0]["through"],
            "events": 0,
            "mode": "incremental",
            "ms": again[0]["ms"],
        }
    ]

    runs = json.loads(cli(*base, "show", "runs", "--json").out)
    assert {r["run_id"]: r["params"]["lr"] for r in runs} == {one: 0.1, two: 0.2}  # typed
    assert all(r["status"] == "success" for r in runs)
    prod = json.loads(cli(*base, "show", "models", "--where", "stage=Production", "--json").out)
    assert [(m["model"], m["version"], m["run_id"]) for m in prod] == [("fraud", 1, two)]
    assert cli(*base, "show", "models", "--where", "nope=1").code == 2
    assert cli(*base, "show", "nope").code == 2

    timeline = json.loads(cli(*base, "audit", "model/fraud", "--json").out)
    assert [e["kind"] for e in timeline] == ["model.version_registered", "model.stage_changed"]
    assert timeline[1]["details"]["stage"] == "Production"
    registered_at = timeline[0]["version"]
    changes = json.loads(cli(*base, "diff", "models", "--from", str(registered_at), "--json").out)
    assert [(c["change"], c["key"]) for c in changes] == [("changed", "fraud/1")]
    assert "stage" in changes[0]["columns"]
    old = json.loads(cli(*base, "show", "models", "--as-of", str(registered_at), "--json").out)
    assert old[0]["stage"] == "None"

    compare = cli(*base, "runs", "compare", one, two)
    assert compare.code == 0
    assert any(
        line.startswith("param") and "*" in line and "0.1" in line and "0.2" in line
        for line in compare.out.splitlines()
    )
    assert cli(*base, "runs", "compare", "nope").code == 2
    history = json.loads(cli(*base, "show", "models", "--history", "--json").out)
    assert [h["stage"] for h in history] == ["Production"]


def test_run_of_a_killed_process_shows_lost(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys

    root = tmp_path / "l"
    Ledger.open(root).close()
    script = (
        "import sys, time\n"
        "from lakeledger.store import Ledger\n"
        f"run = Ledger.open({str(root)!r}).run('etl')\n"
        "print(run.run_id, flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    running = json.loads(cli("--root", str(root), "show", "runs", "--json").out)
    assert [(r["run_id"], r["status"]) for r in running] == [(run_id, "running")]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    lost = json.loads(cli("--root", str(root), "show", "runs", "--json").out)[0]
    assert lost["status"] == "lost"
    assert lost["status_reason"] == f"writer process {lost['writer_host']}:{proc.pid} is gone"
