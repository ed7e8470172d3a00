"""The README's main command works: ``scripts/demo`` runs every part of lakeledger end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_scripts_demo_runs_the_whole_story(tmp_path: Path) -> None:
    env = {**os.environ, "LAKELEDGER_VENV": sys.prefix, "LAKELEDGER_DEMO_ROOT": str(tmp_path / "demo")}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "demo")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for expected in [
        "refused as expected: model 'fraud' version 1 is in stage 'Production'",  # optimistic stage check
        "quarantined 1",                                  # the bad CSV row, not lost
        "amount: expected float, got 'n/a'",
        "watch stopped: 3 observed",
        "store_report       skipped",                     # second stage run skips
        "monthly_features   computed",                    # config change re-runs the dependent stage
        "config monthly_features is now",                 # stale until then
        "2 problem(s) found",                             # the gate: a missing day and a stale model
        "<stdin>:1: run.metric_logged: Expected `float`, got `str` - at `$.value`",
    ]:
        assert expected in out, expected
    assert "Traceback" not in out
