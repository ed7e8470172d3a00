"""The views lakeledger maintains: name, state parts, presentation, row key (for diffs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from lakeledger.projections.engine.state import Context, Part, State
from lakeledger.projections.views import (
    artifact_versions,
    artifacts,
    coverage,
    experiments,
    models,
    runs,
    staleness,
    validations,
)
from lakeledger.store.errors import InvalidInput


@dataclass(frozen=True)
class View:
    name: str
    parts: tuple[Part, ...]
    present: Callable[[State, Context], pl.DataFrame]
    key: tuple[str, ...]
    doc: str
    columns: tuple[str, ...]  # shown in tables (``--json`` has every column)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The only event kinds the view reads (lets as-of reads skip everything else)."""
        return _KINDS[self.name]


# Columns holding JSON text; ``--json`` output turns them back into JSON values.
JSON_COLUMNS = frozenset(
    {
        "params",
        "metrics",
        "metric_stats",
        "tags",
        "observed",
        "expected",
        "details",
        "before",
        "after",
    }
)

_KINDS = {
    "artifacts": artifacts.KINDS,
    "artifact_versions": artifact_versions.KINDS,
    "experiments": experiments.KINDS,
    "models": models.KINDS,
    "runs": runs.KINDS,
    "coverage": coverage.KINDS,
    "staleness": staleness.KINDS,
    "validations": validations.KINDS,
}

VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View(
            "artifacts",
            artifacts.PARTS,
            artifacts.present,
            ("name",),
            "latest registration per artifact name, retired flag, versions",
            (
                "name",
                "uri",
                "retired",
                "versions",
                "config_hash",
                "run_id",
                "registered_at",
                "registered_by",
            ),
        ),
        View(
            "artifact_versions",
            artifact_versions.PARTS,
            artifact_versions.present,
            ("name", "version"),
            "every registration of every artifact name, numbered per name",
            ("name", "version", "uri", "run_id", "latest", "retired", "registered_at"),
        ),
        View(
            "experiments",
            experiments.PARTS,
            experiments.present,
            ("experiment",),
            "experiments created or named by runs, with run counts",
            ("experiment", "runs", "created_at", "created_by", "last_run_at"),
        ),
        View(
            "models",
            models.PARTS,
            models.present,
            ("model", "version"),
            "every model version: stage, aliases, run, metrics",
            (
                "model",
                "version",
                "stage",
                "aliases",
                "run_id",
                "metrics",
                "registered_at",
                "stage_changed_at",
            ),
        ),
        View(
            "runs",
            runs.PARTS,
            runs.present,
            ("run_id",),
            "runs: status (running/lost/finished), params, metrics, tags",
            (
                "run_id",
                "experiment",
                "job",
                "parent_run_id",
                "status",
                "status_reason",
                "started_at",
                "duration_s",
                "params",
                "metrics",
            ),
        ),
        View(
            "coverage",
            coverage.PARTS,
            coverage.present,
            ("dataset",),
            "declared datasets: expected vs observed periods, first gap",
            (
                "dataset",
                "freq",
                "start",
                "end",
                "expected",
                "present",
                "missing",
                "coverage_pct",
                "first_gap",
            ),
        ),
        View(
            "staleness",
            staleness.PARTS,
            staleness.present,
            ("name",),
            "per artifact: fresh, stale, missing or orphaned, with the reason",
            ("name", "status", "reason", "uri"),
        ),
        View(
            "validations",
            validations.PARTS,
            validations.present,
            ("target", "check"),
            "latest result per (target, check), failing first",
            (
                "target",
                "check",
                "passed",
                "severity",
                "observed",
                "expected",
                "failed_count",
                "checked_at",
            ),
        ),
    )
}


def get(name: str) -> View:
    try:
        return VIEWS[name]
    except KeyError:
        raise InvalidInput(f"unknown view {name!r}; views: {', '.join(VIEWS)}") from None


def names(requested: list[str] | None) -> list[str]:
    if not requested:
        return list(VIEWS)
    for name in requested:
        get(name)
    return list(dict.fromkeys(requested))
