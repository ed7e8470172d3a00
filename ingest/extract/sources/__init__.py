"""Source kinds by name. A new kind is one ``Source`` subclass in one file, named in the config
either by a registered name (``kind = "csv"``) or by its import path
(``kind = "mypackage.sources:ParquetDrop"``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import msgspec
from lakeledger.ingest.extract.errors import ConfigError
from lakeledger.ingest.extract.records import RecordSchema
from lakeledger.ingest.extract.sources.base import Batch, Context, Source, SourceError

if TYPE_CHECKING:
    from lakeledger.ingest.extract.config import SourceConfig

BUILTIN = {
    "csv": "lakeledger.ingest.extract.sources.csv:CsvSource",
    "sql": "lakeledger.ingest.extract.sources.sql:SqlSource",
    "http": "lakeledger.ingest.extract.sources.http:HttpSource",
    "github": "lakeledger.ingest.extract.sources.github:GithubIssuesSource",
}
_REGISTERED: dict[str, type[Source]] = {}

__all__ = [
    "BUILTIN",
    "Batch",
    "Context",
    "Source",
    "SourceError",
    "build",
    "check_options",
    "register",
    "source_class",
]


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make ``cls.kind`` usable as ``kind = "..."`` in configs."""
    _REGISTERED[cls.kind] = cls
    return cls


def source_class(kind: str) -> type[Source]:
    if kind in _REGISTERED:
        return _REGISTERED[kind]
    target = BUILTIN.get(kind, kind)
    module, sep, attr = target.partition(":")
    if not sep:
        module, _, attr = target.rpartition(".")
    if not module:
        raise ConfigError(
            f"unknown source kind {kind!r}; use one of {', '.join(BUILTIN)} or 'package.module:SourceClass'"
        )
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"source kind {kind!r} cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise ConfigError(f"source kind {kind!r} is not a lakeledger.ingest.extract.sources.Source subclass")
    return cls


def check_options(config: SourceConfig, where: str) -> Any:
    """Decode ``options`` with the kind's own struct; errors name ``sources[i].options.key``."""
    try:
        cls = source_class(config.kind)
    except ConfigError as exc:
        raise ConfigError(f"{where}.kind`: {exc}") from None
    try:
        options = msgspec.convert(config.options, cls.Options, strict=False)
    except msgspec.ValidationError as exc:
        text, sep, at = str(exc).rpartition(" - at ")
        key = at.strip("`").replace("$", "", 1) if sep else ""
        raise ConfigError(f"{where}.options{key}`: {text if sep else exc}") from None
    if config.cursor and not cls.uses_cursor_field:
        raise ConfigError(f"{where}.cursor`: {config.kind} sources do not take a cursor column")
    schema = schema_of(config, cls, where)
    for name in [
        config.cursor or "",
        *config.dedupe_key,
        *(p for p in config.partition_by if p != "ingest_date"),
    ]:
        if name and name not in schema.names:
            raise ConfigError(
                f"{where}`: column {name!r} (cursor, dedupe_key or partition_by) "
                f"is not in the schema ({', '.join(schema.names)})"
            )
    return options


def schema_of(config: SourceConfig, cls: type[Source], where: str = "") -> RecordSchema:
    try:
        if isinstance(config.schema, str):
            return RecordSchema.named(config.schema)
        if config.schema:
            return RecordSchema.from_spec(config.schema, name=f"{config.name}_record")
    except Exception as exc:  # noqa: BLE001 - reported as a config error
        raise ConfigError(f"{where}.schema`: {exc}") from None
    if cls.default_schema is not None:
        return RecordSchema.from_struct(cls.default_schema)
    raise ConfigError(
        f"{where}.schema`: {config.kind} sources need a schema "
        "(a table of column = \"type\", or 'package.module:Struct')"
    )


def build(config: SourceConfig, context: Context) -> Source:
    cls = source_class(config.kind)
    where = f"source {config.name!r}: `"
    return cls(config, check_options(config, where), schema_of(config, cls, where), context)
