"""Where stage data lives: resolving inputs to versioned scans, writing outputs.

An input is named like an artifact (``features``) or a path under the ledger root
(``bronze/sales``): a registered, not retired artifact wins; otherwise a Delta table (or a
directory of Parquet files) at that path. Every input resolves to a *version* string that
pins what was read – ``name@v<delta version>`` or ``name@sha256:<content hash>`` – which is
what lineage records and what skip-if-fresh compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl
from lakeledger.store import delta, versions
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput
from lakeledger.store.partitions import HIVE_KEYS, hive_exprs, hive_path, hive_values, label_of_hive
from lakeledger.store.storage import filesystem
from lakeledger.store.versions import input_path

if TYPE_CHECKING:
    from lakeledger.store import Ledger

Format = Literal["delta", "parquet"]


@dataclass(frozen=True)
class Source:
    name: str
    path: str
    format: Format
    version: str  # "name@v3" or "name@sha256:..."
    delta_version: int | None = None
    hive_keys: tuple[str, ...] = ()  # Parquet: partition keys, read back as strings like Delta

    def scan(self, storage_options: dict[str, str] | None) -> pl.LazyFrame:
        if self.format == "delta":
            return pl.scan_delta(
                self.path, version=self.delta_version, storage_options=storage_options
            )
        return pl.scan_parquet(
            f"{self.path.rstrip('/')}/**/*.parquet",
            hive_partitioning=True,
            storage_options=storage_options,
            hive_schema=dict.fromkeys(self.hive_keys, pl.String()) or None,
        )


def hive_keys_of(files: list[str]) -> tuple[str, ...]:
    """The ``key=value`` directory names of the first file: its hive partition keys."""
    parts = files[0].split("/")[:-1] if files else []
    return tuple(p.split("=", 1)[0] for p in parts if "=" in p)


def latest_artifact(ledger: Ledger, name: str) -> ev.ArtifactRegistered | None:
    """The artifact's newest registration, or None if it was never registered or is retired."""
    found = ledger.read(kind=["artifact.registered", "artifact.retired"], stream=f"artifact/{name}")
    last = found[-1] if found else None
    return last if isinstance(last, ev.ArtifactRegistered) else None


def artifact_path(ledger: Ledger, uri: str) -> str:
    return input_path(ledger.location, "", uri)


def is_delta(path: str, storage_options: dict[str, str] | None) -> bool:
    return delta.is_table(path, storage_options)


def parquet_files(ledger: Ledger, path: str) -> list[str]:
    return versions.parquet_files(ledger.location, path)


def files_hash(ledger: Ledger, path: str) -> tuple[str, int]:
    return versions.files_hash(ledger.location, path)


def resolve(ledger: Ledger, name: str) -> Source:
    """The input ``name`` now, pinned to its current version (``store/versions.py``, the same
    facts the staleness view is given)."""
    art = latest_artifact(ledger, name)
    path = input_path(ledger.location, name, art.uri if art else None)
    pin = versions.current_pin(ledger.location, path, art.content_hash if art else None)
    if pin is not None and pin.startswith("v"):
        return Source(name, path, "delta", f"{name}@{pin}", int(pin[1:]))
    if pin is not None:
        files = parquet_files(ledger, path)
        return Source(name, path, "parquet", f"{name}@{pin}", hive_keys=hive_keys_of(files))
    where = f"registered at {art.uri}" if art else f"expected at {ledger.location.redact(path)}"
    raise InvalidInput(
        f"input {name!r}: no Delta table or Parquet files found ({where}); "
        "run the stage or ingestion that produces it first"
    )


@dataclass(frozen=True)
class Written:
    uri: str  # relative to the ledger root
    path: str
    format: Format
    version: str  # what a downstream stage will record for it
    content_hash: str | None
    size_bytes: int | None
    partitions: dict[str, int]  # period label -> rows
    delta_version: int | None = None
    hive_keys: tuple[str, ...] = ()

    def source(self, name: str) -> Source:
        """How to read what was written (a downstream stage resolves to the same)."""
        return Source(
            name, self.path, self.format, self.version, self.delta_version, self.hive_keys
        )


def write(
    ledger: Ledger,
    name: str,
    uri: str,
    frame: pl.DataFrame,
    fmt: Format,
    partition: tuple[str, str] | None = None,
) -> Written:
    """Replace the artifact's data with ``frame`` (hive-partitioned per period if asked)."""
    path = artifact_path(ledger, uri)
    options = ledger.location.options
    keys: list[str] = []
    if partition is not None:
        column, freq = partition
        keys = HIVE_KEYS[freq]
        if clash := [k for k in keys if k in frame.columns]:
            raise InvalidInput(
                f"stage {name}: output already has column(s) {clash}, which "
                f"partitioning by {freq} adds; rename them"
            )
        frame = frame.with_columns(hive_exprs(column, freq))
    partitions = _partition_rows(frame, keys, partition[1]) if partition else {}
    if fmt == "delta":
        # one commit at exactly the next version: the version recorded is this write's own
        v = delta.TablePath(path, options, ledger.location.redact).write(
            frame, mode="overwrite", schema_mode="overwrite", partition_by=keys or None
        )
        return Written(uri, path, "delta", f"{name}@v{v}", None, None, partitions, v)
    fs, base = filesystem(ledger.location, path)
    if fs.exists(base):
        fs.rm(base, recursive=True)
    if partition is None:
        targets = [(f"{path}/part-0.parquet", frame)]
    else:
        freq = partition[1]
        targets = [
            (
                f"{path}/{hive_path(label, freq)}/part-{label}.parquet",
                frame.filter(
                    pl.all_horizontal([pl.col(k) == v for k, v in hive_values(label, freq).items()])
                ).drop(keys),
            )
            for label in partitions
        ]
    for target, part in targets:
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        part.write_parquet(target, storage_options=options)
    content, size = files_hash(ledger, path)
    return Written(
        uri,
        path,
        "parquet",
        f"{name}@sha256:{content}",
        content,
        size,
        partitions,
        hive_keys=tuple(keys),
    )


def _partition_rows(frame: pl.DataFrame, keys: list[str], freq: str) -> dict[str, int]:
    counts = frame.group_by(keys).len().sort(keys)
    return {label_of_hive({k: row[k] for k in keys}, freq): row["len"] for row in counts.to_dicts()}
