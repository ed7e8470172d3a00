"""Is a stage's artifact up to date? What skip-if-fresh compares, and what "stale" means.

An artifact is fresh when it was built with the config hash the stage would use now, from
the input versions that exist now, and is still present. It is additionally reported stale
when something upstream of it (through recorded lineage) is stale: the upstream stage will
re-run, and then so will this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeledger.ingest.stages import io as stage_io
from lakeledger.ingest.stages.io import Format, Source
from lakeledger.store import events as ev

if TYPE_CHECKING:
    from lakeledger.store import Ledger


@dataclass
class Freshness:
    fresh: bool
    reasons: list[str]
    config_hash: str
    inputs: list[str]
    artifact: ev.ArtifactRegistered | None = None
    upstream_stale: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``fresh``, or ``stale`` when this stage or anything upstream of it must re-run."""
        return "fresh" if self.fresh and not self.upstream_stale else "stale"


def freshness(
    ledger: Ledger, name: str, fmt: Format, digest: str, sources: list[Source]
) -> Freshness:
    """Compare the artifact ``name``'s registration with ``digest`` and the current inputs."""
    versions = [s.version for s in sources]
    art = stage_io.latest_artifact(ledger, name)
    reasons: list[str] = []
    if art is None:
        reasons.append("never built")
    else:
        if art.config_hash != digest:
            reasons.append(f"config changed ({(art.config_hash or '-')[:12]} -> {digest[:12]})")
        for before, now in zip(art.inputs, versions, strict=False):
            if before != now:
                reasons.append(f"input changed ({before} -> {now})")
        if len(art.inputs) != len(versions):
            reasons.append(f"inputs changed ({art.inputs} -> {versions})")
        if not present(ledger, art, fmt):
            reasons.append(f"artifact missing at {art.uri}")
    upstream = stale_upstream(ledger, [s.name for s in sources])
    return Freshness(not reasons, reasons, digest, versions, art, upstream)


def present(ledger: Ledger, art: ev.ArtifactRegistered, fmt: Format) -> bool:
    path = stage_io.artifact_path(ledger, art.uri)
    if fmt == "delta":
        return stage_io.is_delta(path, ledger.location.options)
    return bool(stage_io.parquet_files(ledger, path))


def declared_hash(ledger: Ledger, name: str) -> str | None:
    """The hash of the latest ``config.declared`` for ``name``."""
    declared = ledger.read(kind="config.declared", stream=f"config/{name}")
    return declared[-1].config_hash if declared else None  # type: ignore[union-attr]


def stale_upstream(ledger: Ledger, names: list[str], seen: set[str] | None = None) -> list[str]:
    """Artifacts upstream (through recorded lineage) whose config moved on since they were built.

    A downstream stage is not re-run for this (its inputs did not change yet), but it will be
    once the upstream one is, so it reports as stale.
    """
    seen = seen if seen is not None else set()
    stale: list[str] = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        art = stage_io.latest_artifact(ledger, name)
        if art is None:
            continue
        declared = declared_hash(ledger, name)
        if art.config_hash and declared and declared != art.config_hash:
            stale.append(name)
        stale += stale_upstream(ledger, [i.rsplit("@", 1)[0] for i in art.inputs], seen)
    return stale
