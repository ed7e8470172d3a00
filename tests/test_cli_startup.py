"""The CLI starts fast: ``--help`` imports no data library, commands load only when chosen.

Timings are benchmarks (``scripts/bench/cli.py``), not asserted here; what is asserted is the
cause of slowness: which modules a start-up imports, checked in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from lakeledger.cli import main

DATA_LIBRARIES = ("polars", "pyarrow", "deltalake")

PROBE = """
import json, sys
from lakeledger.cli.main import run
try:
    code = run(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _imports(*argv: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_import_no_data_library_and_no_command(argv: list[str]) -> None:
    code, modules, out = _imports(*argv)
    assert code == 0
    assert out.strip()
    loaded = sorted(m for m in modules if m.split(".")[0] in DATA_LIBRARIES)
    assert loaded == [], f"{argv} imported {loaded[:5]}"
    assert not any(m.startswith("lakeledger.cli.commands.") for m in modules)


def test_history_reads_the_commit_files_without_data_libraries(tmp_path: Path) -> None:
    """``history --limit 1`` (issue 15: <= 350 ms) reads the newest commit file, nothing more."""
    from lakeledger.store import Ledger
    from lakeledger.store import events as ev

    root = str(tmp_path / "ledger")
    with Ledger.open(root) as ledger:
        for i in range(3):
            ledger.append([ev.RunStarted(run_id=f"r{i}", job="j")])
    code, modules, out = _imports("--root", root, "history", "--limit", "1", "--json")
    assert code == 0 and json.loads(out)[0]["version"] == 3
    loaded = sorted(m for m in modules if m.split(".")[0] in (*DATA_LIBRARIES, "fsspec"))
    assert loaded == [], f"history imported {loaded[:5]}"


def test_a_command_imports_only_its_own_module() -> None:
    code, modules, out = _imports("history", "--help")
    assert code == 0 and "--limit" in out  # the real parser, loaded when chosen
    commands = {m for m in modules if m.startswith("lakeledger.cli.commands.")}
    assert commands == {"lakeledger.cli.commands.log"}


def test_top_level_help_lists_every_command() -> None:
    _, _, out = _imports("--help")
    for name, (_, help_text) in main.COMMANDS.items():
        assert name in out and help_text[:20] in out


def test_the_command_table_matches_what_each_module_registers() -> None:
    """The table is the help people see before a module loads; it must say what the module
    says once loaded (and name every command it adds)."""
    by_module: dict[str, dict[str, str]] = {}
    for name, (module, help_text) in main.COMMANDS.items():
        by_module.setdefault(module, {})[name] = help_text
    for module, expected in by_module.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"lakeledger.cli.commands.{module}").register(sub)
        registered = {a.dest: a.help for a in sub._choices_actions}
        assert registered == expected, module


def test_version_everywhere_is_one_version() -> None:
    import lakeledger
    from lakeledger.store.identity import lakeledger_version

    done = subprocess.run(
        [sys.executable, "-m", "lakeledger.cli.main", "--version"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"lakeledger {lakeledger.__version__}"
    assert lakeledger_version() == lakeledger.__version__ == version("lakeledger")


def test_every_command_module_is_in_the_table() -> None:
    folder = Path(main.__file__).with_name("commands")
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    assert modules == {module for module, _ in main.COMMANDS.values()}


def test_the_event_vocabulary_imports_no_data_library() -> None:
    """Producers that only build and admit events (and ``append``'s parsing) need no data library."""
    probe = ("import json, sys; import lakeledger.store.events, lakeledger.store.admission, "
             "lakeledger.cli.commands.log; print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = sorted(m for m in json.loads(done.stdout) if m.split(".")[0] in DATA_LIBRARIES)
    assert loaded == [], loaded[:5]


APPEND = """
import sys, tempfile
from lakeledger.store import Ledger, events as ev
ledger = Ledger.open(tempfile.mkdtemp())
run = ledger.run("j")
first = ev.MetricLogged(run_id=run.run_id, key="k", value=1.0)
ledger.append([first])
assert ledger.append([first]).skipped  # a retry: its id looked up in the data file holding it
if "--maintain" in sys.argv:  # what the background thread does: compact, check the log
    from lakeledger.store import compaction, health
    for step in range(3):
        ledger.append([ev.MetricLogged(run_id=run.run_id, key="k", value=1.0, step=step)])
    assert compaction.compact(ledger.log) is not None
    health.examine(ledger)
ledger.close()
print("pandas" in sys.modules)
"""


def test_appending_does_not_import_pandas() -> None:
    """pyarrow's ``pa.array``/``pa.scalar`` over Python objects import pandas when it is
    installed (the [test] extra installs it): 0.5 s CPU and 34-60 MB in every appending process.
    The commit's columns are built by polars instead."""
    pytest.importorskip("pandas")  # without it installed the question does not arise
    done = subprocess.run([sys.executable, "-c", APPEND], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "an append imported pandas"


def test_log_maintenance_does_not_import_pandas() -> None:
    """``pa.table()`` of delta-rs' add actions imported pandas in a compacting process (a
    server's first compaction): the live files are read through the Arrow stream by polars."""
    pytest.importorskip("pandas")
    argv = [sys.executable, "-c", APPEND, "--maintain"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "compaction or the log check imported pandas"
