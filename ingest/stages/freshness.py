"""Is a stage's artifact up to date? The facts a stage gathers for the one lineage rule.

The rule itself is ``lakeledger.store.lineage.decide``, which the ``staleness`` view and the
gate apply too: fresh when built with the config the stage would use now, from the input
versions that exist now (``store/versions.py``), and still present; stale as well when an
artifact upstream of it (through recorded lineage) is stale or missing, since that one re-runs
and then so will this one. Skip-if-fresh looks at the stage's own reasons only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl
from lakeledger.ingest.stages import io as stage_io
from lakeledger.ingest.stages.io import Format, Source
from lakeledger.store import events as ev
from lakeledger.store import versions
from lakeledger.store.lineage import Facts, Input, Ref, Verdict, decide, decide_all, parse_ref, split_dataset

if TYPE_CHECKING:
    from lakeledger.store import Ledger


@dataclass
class Freshness:
    fresh: bool  # nothing of its own changed: skip-if-fresh skips
    reasons: list[str]
    config_hash: str
    inputs: list[str]
    artifact: ev.ArtifactRegistered | None = None
    upstream_stale: list[str] = field(default_factory=list)
    verdict: Verdict | None = None  # the lineage rule's answer (None: never built)

    @property
    def status(self) -> str:
        """As the staleness view says it: ``fresh``, ``stale`` or ``missing``."""
        return self.verdict.status if self.verdict is not None else "stale"


def freshness(
    ledger: Ledger, name: str, fmt: Format, digest: str, sources: list[Source]
) -> Freshness:
    """Compare the artifact ``name``'s registration with ``digest`` and the current inputs."""
    current = [s.version for s in sources]
    art = stage_io.latest_artifact(ledger, name)
    if art is None:
        return Freshness(False, ["never built"], digest, current)
    gather = _Gatherer(ledger, {s.name: s.version for s in sources})
    facts = gather.facts(art, declared=digest, missing=not present(ledger, art, fmt))
    own = decide(facts)
    reasons = [] if own.status == "fresh" else list(own.reasons)
    recorded = [parse_ref(i, strict=False).name for i in art.inputs]
    if recorded != [s.name for s in sources]:
        reasons.append(f"inputs changed ({art.inputs} -> {current})")
    everything = gather.upstream(facts)
    verdicts = decide_all(everything)
    upstream = [n for n, v in verdicts.items() if n != name and v.status in ("stale", "missing")]
    return Freshness(not reasons, reasons, digest, current, art, upstream, verdicts[name])


def present(ledger: Ledger, art: ev.ArtifactRegistered, fmt: Format) -> bool:
    path = stage_io.artifact_path(ledger, art.uri)
    if fmt == "delta":
        return stage_io.is_delta(path, ledger.location.options)
    return bool(stage_io.parquet_files(ledger, path))


def declared_hash(ledger: Ledger, name: str) -> str | None:
    """The hash of the latest ``config.declared`` for ``name``."""
    declared = ledger.read(kind="config.declared", stream=f"config/{name}")
    return declared[-1].config_hash if declared else None  # type: ignore[union-attr]


class _Gatherer:
    """Facts from the ledger and storage, as ``projections/views/staleness.py`` gathers them
    from events and supplied storage facts."""

    def __init__(self, ledger: Ledger, resolved: dict[str, str]) -> None:
        self.ledger = ledger
        self.resolved = resolved  # input name -> current pinned reference (already resolved)

    def facts(self, art: ev.ArtifactRegistered, *, declared: str | None, missing: bool) -> Facts:
        at = self._position(f"artifact/{art.name}", "artifact.registered")
        inputs = tuple(self._input(text, at) for text in art.inputs)
        return Facts(art.name, art.uri, art.config_hash, declared, True, missing, inputs)

    def upstream(self, facts: Facts) -> dict[str, Facts]:
        """``facts`` and those of every artifact upstream of it."""
        out, todo = {facts.name: facts}, [i.upstream for i in facts.inputs if i.upstream]
        while todo:
            name = todo.pop()
            art = stage_io.latest_artifact(self.ledger, name) if name not in out else None
            if art is None:
                continue
            path = stage_io.artifact_path(self.ledger, art.uri)
            gone = versions.current_pin(self.ledger.location, path, art.content_hash) is None
            out[name] = self.facts(art, declared=declared_hash(self.ledger, name), missing=gone)
            todo += [i.upstream for i in out[name].inputs if i.upstream]
        return out

    def _input(self, text: str, at: tuple[int, int]) -> Input:
        ref = parse_ref(text, strict=False)
        art = stage_io.latest_artifact(self.ledger, ref.name) if ref.scope != "dataset" else None
        upstream = art.name if art is not None else None
        if ref.pin is None:
            return Input(text, changed_later=self._changed_after(ref, at), upstream=upstream)
        now = self.resolved.get(ref.name)
        if now is None:
            path = versions.input_path(self.ledger.location, ref.name, art.uri if art else None)
            pin = versions.current_pin(self.ledger.location, path, art.content_hash if art else None)
            if pin is None:
                return Input(text, gone=True, upstream=upstream)
            now = ref.pinned(pin)
        return Input(text, current=ref.pinned(parse_ref(now, strict=False).pin or ""), upstream=upstream)

    def _datasets(self) -> set[str]:
        streams = self.ledger.events(kind=["dataset.declared", "partition.observed"]).select("stream")
        return {s.split("/", 1)[1] for s in streams.unique().collect()["stream"]}

    def _position(self, stream: str, kind: str | list[str]) -> tuple[int, int]:
        rows = self.ledger.events(kind=kind, stream=stream).select("version", "seq").collect()
        return rows.row(-1) if rows.height else (-1, -1)  # type: ignore[return-value]

    def _changed_after(self, ref: Ref, at: tuple[int, int]) -> bool:
        """Whether the log recorded the named thing again after ``at`` (as the view decides)."""
        if ref.scope == "dataset":
            dataset, partition = split_dataset(ref.name, self._datasets())
            frame = self.ledger.events(kind="partition.observed", stream=f"dataset/{dataset}")
            if partition:
                part = pl.col("payload").str.json_path_match("$.partition") == partition
                frame = frame.filter(part)
            return _after(frame, at)
        later = _after(self.ledger.events(kind="artifact.registered", stream=f"artifact/{ref.name}"), at)
        if ref.scope == "any":
            later |= _after(self.ledger.events(kind="partition.observed", stream=f"dataset/{ref.name}"), at)
        return later


def _after(frame: pl.LazyFrame, at: tuple[int, int]) -> bool:
    rows = frame.select("version", "seq").collect()
    return any(row > at for row in rows.iter_rows())
