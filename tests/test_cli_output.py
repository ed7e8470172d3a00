"""Shared output options: ``--json`` is one JSON document everywhere, JSON Lines only as ``--jsonl``.

Walks the real parser of every subcommand (each command module registered as ``lakeledger``
registers it), so a command added later with its own ``--json`` fails here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lakeledger.cli import main, output


def _parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(command path, parser) for every command and subcommand, as ``lakeledger`` builds them."""
    parser = argparse.ArgumentParser(prog="lakeledger")
    sub = parser.add_subparsers(parser_class=argparse.ArgumentParser)
    for module in dict.fromkeys(m for m, _ in main.COMMANDS.values()):
        importlib.import_module(f"lakeledger.cli.commands.{module}").register(sub)
    stack = [("lakeledger", parser)]
    while stack:
        path, p = stack.pop()
        yield path, p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += [(f"{path} {name}", child) for name, child in action.choices.items()]


def _options() -> list[tuple[str, argparse.Action]]:
    return [(path, a) for path, p in _parsers() for a in p._actions if a.option_strings]


def test_every_json_option_is_the_shared_one_and_says_its_shape() -> None:
    found = [(path, a) for path, a in _options() if "--json" in a.option_strings]
    assert len(found) >= 30  # every listing and every write takes --json
    for path, action in found:
        assert type(action) is output.JsonOption, f"{path}: --json declared outside output.add_json"
        assert action.option_strings == ["--json"], path
        assert "JSON array" in action.help or "JSON object" in action.help, (path, action.help)
    shapes = {path: "array" if "JSON array" in a.help else "object" for path, a in found}
    assert shapes["lakeledger runs list"] == "array" and shapes["lakeledger check"] == "object"


def test_json_lines_are_only_behind_jsonl() -> None:
    lines = []
    for path, action in _options():
        text = (action.help or "").lower()
        if type(action) is output.JsonLinesOption or "--jsonl" in action.option_strings:
            assert type(action) is output.JsonLinesOption and action.option_strings == ["--jsonl"], path
            assert "json lines" in text, (path, action.help)
            lines.append(path)
        else:  # no other option may promise JSON per line
            assert "json line" not in text, (path, action.help)
    assert sorted(lines) == ["lakeledger follow", "lakeledger watch"]


def test_add_json_refuses_a_shape_that_is_not_one_document() -> None:
    with pytest.raises(ValueError, match="JSON array"):
        output.add_json(argparse.ArgumentParser(), "each event as a JSON line")


def test_help_of_each_json_command_names_its_shape() -> None:
    """What people read: ``--help`` of a listing says array, of a write says object."""
    for argv, shape in ((["history", "--help"], "JSON array"), (["runs", "start", "--help"], "JSON object")):
        done = subprocess.run([sys.executable, "-m", "lakeledger.cli.main", *argv],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert shape in " ".join(done.stdout.split()), argv


def test_listings_print_arrays_and_single_things_objects(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")

    def run(*argv: str) -> object:
        done = subprocess.run([sys.executable, "-m", "lakeledger.cli.main", "--root", root, *argv],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (argv, done.stderr)
        return json.loads(done.stdout)

    started = run("runs", "start", "--experiment", "e", "--json")
    assert isinstance(started, dict) and started["run_id"]
    assert isinstance(run("runs", "log", started["run_id"], "--metric", "auc=0.9", "--json"), dict)
    for argv in (["history"], ["events"], ["runs", "list"], ["experiments", "list"], ["show", "runs"]):
        rows = run(*argv, "--json")
        assert isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows), argv
    assert isinstance(run("check", "--json"), dict)
