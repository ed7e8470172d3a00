"""Every code folder ships: a subpackage missing from pyproject's list installs fine in editable
mode (the tests) and is silently absent from a normal install."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"facade": "lakeledger", "store": "lakeledger.store", "ingest": "lakeledger.ingest",
           "projections": "lakeledger.projections", "cli": "lakeledger.cli"}


def test_every_subpackage_is_listed_for_setuptools() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {k: v for k, v in config["package-dir"].items()} == {v: k for k, v in FOLDERS.items()}
    found = set()
    for folder, package in FOLDERS.items():
        inits = (ROOT / folder).rglob("__init__.py") if package != "lakeledger" else [ROOT / folder / "__init__.py"]
        for init in inits:
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == set(config["packages"])
