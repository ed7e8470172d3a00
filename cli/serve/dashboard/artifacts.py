"""Artifacts and staleness: each artifact's status with its reason; one artifact's lineage (its
inputs with versions, and theirs, with config hashes) drawn as a small graph, and its history."""

from __future__ import annotations

from typing import Any

import polars as pl
from lakeledger.projections import api
from lakeledger.projections.views.artifacts import artifact_history
from lakeledger.store import Ledger
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .page import Page, render

COLUMNS = ["name", "status", "reason", "uri", "versions", "inputs", "config_hash", "run_id", "registered_at"]
MAX_DEPTH = 4


def _list(ledger: Ledger, page: Page) -> dict[str, Any]:
    stale = page.view(ledger, "staleness").select("name", "status", "reason")
    registry = page.view(ledger, "artifacts")
    frame = registry.join(stale, on="name", how="left").with_columns(
        pl.when(pl.col("retired")).then(pl.lit("retired")).otherwise(pl.col("status")).alias("status")
    )
    order = pl.col("status").replace_strict(
        {"missing": 0, "stale": 1, "orphaned": 2, "fresh": 3}, default=4, return_dtype=pl.Int32
    )
    rows, pager = page.paginate(frame.sort(order, "name"))
    return {"rows": rows, "paging": pager, "columns": COLUMNS}


def _base(ref: str) -> str:
    """``features@v3`` / ``features@sha256:..`` -> ``features``: the artifact an input names."""
    return ref.split("@", 1)[0]


def lineage(registry: pl.DataFrame, name: str) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Nodes (name, label, depth) and edges (input -> consumer), walking inputs up to MAX_DEPTH."""
    by_name = {r["name"]: r for r in registry.to_dicts()}
    nodes: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    edges: list[tuple[int, int]] = []

    def add(ref: str, depth: int) -> int:
        if ref in index:
            return index[ref]
        row = by_name.get(_base(ref))
        index[ref] = len(nodes)
        config = (row or {}).get("config_hash") or ""
        nodes.append({"ref": ref, "depth": depth, "known": row is not None, "config": config[:12]})
        if row is not None and depth < MAX_DEPTH:
            for inp in row["inputs"] or []:
                edges.append((add(inp, depth + 1), index[ref]))
        return index[ref]

    add(name, 0)
    return nodes, edges


def svg_layout(nodes: list[dict[str, Any]], edges: list[tuple[int, int]]) -> dict[str, Any]:
    """Columns by depth (inputs left, the artifact right), rows in order of discovery."""
    depth = max((n["depth"] for n in nodes), default=0)
    width, height, gap_x, gap_y = 190, 40, 70, 18
    rows: dict[int, int] = {}
    for n in nodes:
        n["x"] = (depth - n["depth"]) * (width + gap_x) + 10
        n["y"] = rows.get(n["depth"], 0) * (height + gap_y) + 10
        rows[n["depth"]] = rows.get(n["depth"], 0) + 1
    lines = []
    for a, b in edges:
        src, dst = nodes[a], nodes[b]
        x1, y1, x2, y2 = src["x"] + width, src["y"] + height / 2, dst["x"], dst["y"] + height / 2
        mid = (x1 + x2) / 2
        lines.append(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
    return {
        "nodes": nodes,
        "paths": lines,
        "w": (depth + 1) * (width + gap_x),
        "h": max(rows.values(), default=1) * (height + gap_y) + 10,
        "box_w": width,
        "box_h": height,
    }


def _one(ledger: Ledger, page: Page) -> dict[str, Any]:
    name = page.request.path_params["name"]
    registry = page.view(ledger, "artifacts")
    mine = registry.filter(pl.col("name") == name)
    if not mine.height:
        raise LookupError(f"no artifact {name!r} at this moment")
    stale = page.view(ledger, "staleness").filter(pl.col("name") == name)
    events = api.read_events(ledger, as_of=page.as_of, streams=[f"artifact/{name}"])
    return {
        "name": name,
        "artifact": mine.row(0, named=True),
        "status": stale.row(0, named=True) if stale.height else None,
        "graph": svg_layout(*lineage(registry, name)),
        "history": artifact_history(events.lazy(), name).sort("version", descending=True).to_dicts(),
    }


async def list_artifacts(request: Request) -> Response:
    return await render(request, "artifacts.html", _list)


async def one(request: Request) -> Response:
    return await render(request, "artifacts_one.html", _one)


ROUTES = [Route("/artifacts", list_artifacts), Route("/artifacts/{name:path}", one)]
