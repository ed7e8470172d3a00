"""Declarative stages: declare inputs, output schema and config; the rest follows.

    @stage(ledger, "features", inputs=["bronze/sales"], output=FeatureSchema, config=FeatureConfig)
    def features(sales: pl.LazyFrame, cfg: FeatureConfig) -> pl.DataFrame: ...

    features(FeatureConfig(window=7))   # computes, or skips if nothing changed

Calling a stage validates its inputs and output against their contracts, writes the output
as a Delta (or Parquet) artifact under ``<root>/stages/<name>`` (with ``metadata=True`` also
``<root>/_meta/stages/<name>.schema.json`` and ``.stats.json``), registers it with its config
hash and input versions (lineage), records a run with every check, and returns a
``StageResult``. When the config hash and input versions equal the artifact's and the
artifact is present, the work is skipped and the result says so. A stage is an ordinary
call: no scheduler, any orchestrator (or none) can run it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl
from lakeledger.ingest.checks import (
    Check,
    CheckFailed,
    Contract,
    Report,
    Suite,
    as_frame,
    schema_of,
    stats_of,
    write_metadata,
)
from lakeledger.ingest.checks.quality import Schema
from lakeledger.ingest.stages import coverage as stage_coverage
from lakeledger.ingest.stages import io as stage_io
from lakeledger.ingest.stages.coverage import Partitioning
from lakeledger.ingest.stages.freshness import Freshness, declared_hash, freshness
from lakeledger.ingest.stages.io import Format, Source
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput
from lakeledger.store.hashing import config_dict, config_hash
from lakeledger.store.periods import check_freq

if TYPE_CHECKING:
    from lakeledger.store import Ledger, Run

log = logging.getLogger(__name__)
NO_CONFIG_HASH = config_hash({})


@dataclass
class StageResult:
    name: str
    status: str  # "computed" or "skipped"
    message: str
    uri: str
    path: str
    format: Format
    config_hash: str
    inputs: list[str]
    version: str
    run_id: str | None = None
    rows: int | None = None
    report: Report | None = None
    partitions: dict[str, int] = field(default_factory=dict)
    missing_periods: list[str] = field(default_factory=list)
    storage_options: dict[str, str] | None = field(default=None, repr=False)
    source: Source | None = field(default=None, repr=False)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def scan(self) -> pl.LazyFrame:
        """The artifact's data (the version this result refers to)."""
        assert self.source is not None
        return self.source.scan(self.storage_options)


class Stage:
    def __init__(
        self,
        ledger: Ledger,
        name: str,
        fn: Callable[..., Any],
        *,
        inputs: Sequence[str] | Mapping[str, type[msgspec.Struct] | None] = (),
        output: type[msgspec.Struct] | None = None,
        config: type | None = None,
        checks: Sequence[Check] = (),
        partition_by: Partitioning | None = None,
        format: Format = "delta",
        uri: str | None = None,
        strict_output: bool = True,
        metadata: bool = False,
    ) -> None:
        self.ledger, self.name, self.fn = ledger, name, fn
        self.inputs = dict(inputs) if isinstance(inputs, Mapping) else dict.fromkeys(inputs)
        self.output, self.config_type, self.checks = output, config, list(checks)
        self.partition_by, self.format = partition_by, format
        self.uri = uri or f"stages/{name}"
        self.strict_output = strict_output
        self.metadata = metadata
        if format not in ("delta", "parquet"):
            raise InvalidInput(f"stage {name}: format must be 'delta' or 'parquet', not {format!r}")
        if partition_by is not None:
            check_freq(partition_by.freq)
        self._check_signature()

    def _check_signature(self) -> None:
        params = [
            p
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        want = len(self.inputs) + (1 if self.config_type is not None else 0)
        if len(params) != want:
            raise InvalidInput(
                f"stage {self.name}: {self.fn.__name__}() takes {len(params)} positional "
                f"parameter(s) but the stage passes {want} (one LazyFrame per input"
                f"{', then the config' if self.config_type else ''})"
            )

    # -- config ------------------------------------------------------------------------------
    def config(self, cfg: Any = None) -> Any:
        """The config to run with: ``cfg`` as given, a dict converted to the config type, or
        the config type's defaults."""
        if self.config_type is None:
            if cfg is not None:
                raise InvalidInput(f"stage {self.name} declares no config but was given one")
            return None
        if isinstance(cfg, self.config_type):
            return cfg
        try:
            return msgspec.convert(cfg or {}, self.config_type, strict=False)
        except (msgspec.ValidationError, TypeError) as exc:
            raise InvalidInput(
                f"stage {self.name}: invalid {self.config_type.__name__}: {exc}"
            ) from None

    def config_hash(self, cfg: Any = None) -> str:
        cfg = self.config(cfg)
        return NO_CONFIG_HASH if cfg is None else config_hash(cfg)

    def declare(self, cfg: Any = None) -> str:
        """Record ``cfg`` as this stage's current config (only when it changed); its hash."""
        cfg = self.config(cfg)
        digest = self.config_hash(cfg)
        if declared_hash(self.ledger, self.name) != digest:
            self.ledger.declare_config(self.name, cfg if cfg is not None else {})
        return digest

    # -- freshness ---------------------------------------------------------------------------
    def freshness(self, cfg: Any = None, sources: list[Source] | None = None) -> Freshness:
        """Would a call compute, and why? (See ``lakeledger.ingest.stages.freshness``.)"""
        if sources is None:
            sources = [stage_io.resolve(self.ledger, n) for n in self.inputs]
        return freshness(self.ledger, self.name, self.format, self.config_hash(cfg), sources)

    # -- running -----------------------------------------------------------------------------
    def __call__(self, cfg: Any = None, *, force: bool = False) -> StageResult:
        cfg = self.config(cfg)
        sources = [stage_io.resolve(self.ledger, n) for n in self.inputs]  # bad input: no events
        digest = self.declare(cfg)
        state = self.freshness(cfg, sources)
        if state.fresh and not force and state.artifact is not None:
            current = stage_io.resolve(self.ledger, self.name)
            inputs = ", ".join(state.inputs) or "-"
            message = f"{self.name}: skipped, up to date (config {digest[:12]}, inputs {inputs})"
            log.info(message)
            return StageResult(
                self.name,
                "skipped",
                message,
                state.artifact.uri,
                current.path,
                current.format,
                digest,
                state.inputs,
                current.version,
                run_id=state.artifact.run_id,
                storage_options=self.ledger.location.options,
                source=current,
            )
        why = "forced" if state.fresh else "; ".join(state.reasons)
        params: dict[str, ev.Scalar] = {"config_hash": digest, "inputs": ",".join(state.inputs)}
        if cfg is not None:
            params |= {
                k: v for k, v in config_dict(cfg).items() if isinstance(v, str | int | float | bool)
            }
        with self.ledger.run(
            f"stage/{self.name}", params=params, tags={"stage": self.name, "reason": why}
        ) as run:
            return self._compute(run, cfg, digest, sources, why)

    def _compute(
        self, run: Run, cfg: Any, digest: str, sources: list[Source], why: str
    ) -> StageResult:
        options = self.ledger.location.options
        frames = []
        for source in sources:
            frame = source.scan(options)
            schema = self.inputs[source.name]
            if schema is not None:
                report = Suite(Contract.of(schema).checks()).run(frame)
                report.record(self.ledger, source.name, run.run_id)
                report.raise_if_blocking(f"stage {self.name}: input {source.name}")
            frames.append(frame)
        args = [*frames, cfg] if self.config_type is not None else frames
        output = as_frame(self.fn(*args), f"stage {self.name} output")
        report = self.output_suite().run(output)
        report.record(self.ledger, self.name, run.run_id)
        report.raise_if_blocking(f"stage {self.name}: output (nothing was written)")
        part = self.partition_by
        if part is not None and output.get_column(part.column).null_count():
            raise CheckFailed(
                f"stage {self.name}: partition column {part.column!r} has nulls; "
                "every row needs a period"
            )
        written = stage_io.write(
            self.ledger,
            self.name,
            self.uri,
            output,
            self.format,
            (part.column, part.freq) if part else None,
        )
        meta = {**schema_of(output), "format": self.format, "stats": stats_of(output)}
        if self.metadata:  # beside the artifact, outside its directory (vacuum-safe)
            folder, _, base = f"_meta/{self.uri}".rpartition("/")
            write_metadata(
                output,
                self.ledger.location.join(folder),
                base,
                storage_options=self.ledger.location.options,
            )
        run.register_artifact(
            self.name,
            written.uri,
            config_hash=digest,
            content_hash=written.content_hash,
            size_bytes=written.size_bytes,
            inputs=[s.version for s in sources],
            schema=meta,
        )
        run.log_metric("rows", output.height)
        missing = (
            stage_coverage.observe(self.ledger, self.name, part, written, output, run.run_id)
            if part
            else []
        )
        message = f"{self.name}: computed {output.height} rows ({why})"
        log.info(message)
        return StageResult(
            self.name,
            "computed",
            message,
            written.uri,
            written.path,
            written.format,
            digest,
            [s.version for s in sources],
            written.version,
            run.run_id,
            output.height,
            report,
            written.partitions,
            missing,
            options,
            written.source(self.name),
        )

    def output_suite(self) -> Suite:
        checks: list[Check] = []
        if self.output is not None:
            checks += Contract.of(self.output).checks(strict=self.strict_output)
        if self.partition_by is not None and not any(isinstance(c, Schema) for c in checks):
            checks.append(Schema({self.partition_by.column: object}))
        return Suite([*checks, *self.checks])


def stage(ledger: Ledger, name: str, **options: Any) -> Callable[[Callable[..., Any]], Stage]:
    """Decorator: make ``fn`` the stage ``name`` of ``ledger`` (see module docstring)."""

    def wrap(fn: Callable[..., Any]) -> Stage:
        return Stage(ledger, name, fn, **options)

    return wrap


__all__ = ["Freshness", "Partitioning", "Stage", "StageResult", "stage"]
