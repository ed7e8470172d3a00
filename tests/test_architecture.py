"""The layers can be seen, and stay that way: data flows producers -> store -> projections -> cli.

Every import is walked, also those inside functions and ``TYPE_CHECKING`` blocks, since a lazy
import is still a dependency. The store imports nothing above it; producers (``ingest``) and
the read side (``projections``) import only the store (and never each other); the facade
(``lakeledger``) sits on both; the CLI on top. Cycles among run-time imports are refused too.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
# rank of each layer; a module may import its own layer's package or lower ranks, except peers
LAYERS = {"store": 0, "ingest": 1, "projections": 1, "": 2, "cli": 3}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if package == "lakeledger" and parts:
                continue  # only the facade's own modules live in facade/
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, needed at run time) for every import in the file; imports under
    ``if TYPE_CHECKING:`` are for annotations only."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        runtime = id(node) not in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, runtime
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield (target if target in MODULES else base), node.lineno, runtime


def test_no_upward_or_sideways_import() -> None:
    wrong = []
    for module, path in MODULES.items():
        own = layer(module)
        for target, line, _ in imports(module, path):
            if not target.startswith("lakeledger"):
                continue
            theirs = layer(target)
            if theirs == own:
                continue
            if LAYERS[theirs] >= LAYERS[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own or 'facade'}) imports {target}")
    assert not wrong, "imports against the data flow:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, runtime in imports(module, path):
            if runtime and target in MODULES and target != module:
                graph[module].add(target)
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(sorted(c)) for c in cycles)


def test_projections_never_write_events() -> None:
    writes = []
    for module, path in MODULES.items():
        if layer(module) != "projections":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"append", "emit", "commit", "flush"}
                and "ledger" in ast.unparse(node.func.value).lower()
            ):
                writes.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)[:60]}")
    assert not writes, "projections must not write events:\n" + "\n".join(writes)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_lazy_imports(tmp_path: Path) -> None:
    """The walker itself: an import inside a function counts (guards against a blind test)."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from lakeledger.cli import main\n")
    assert [(t, rt) for t, _, rt in imports("lakeledger.store.m", source)] == [("lakeledger.cli.main", True)]
