"""``sources.toml``: which sources to ingest, how, and into what.

Decoded with msgspec so a wrong or missing key is reported with its path
(``sources[2].cursor``). String values may reference environment variables (``${GITHUB_TOKEN}``);
they are expanded only for the sources being run, and the config recorded in the ledger keeps
the unexpanded text; expanded values and secret-looking literals are masked by value in
everything recorded (see ``secrets.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from lakeledger.ingest.extract.errors import ConfigError
from lakeledger.ingest.extract.secrets import SECRET_NAME, Secrets, masked_config
from lakeledger.store.hashing import config_hash

NAME = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SourceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One source. ``options`` are checked against the source kind's own ``Options`` struct."""

    name: NAME
    kind: str
    options: dict[str, Any] = {}
    # Column -> type ("int", "float?", "datetime"...), or "package.module:Struct".
    schema: dict[str, str] | str | None = None
    cursor: str | None = None  # incremental cursor column/field, where the kind supports one
    dedupe_key: list[str] = []  # drop repeated keys within a run (counted, never silent)
    partition_by: list[str] = msgspec.field(default_factory=lambda: ["ingest_date"])
    batch_rows: Annotated[int, msgspec.Meta(gt=0)] = 250_000
    # columns a tabular source brings that the schema lacks: "evolve" adds them (text, nullable)
    # and records the new schema; "freeze" quarantines the rows holding a value in one
    schema_mode: Literal["evolve", "freeze"] = "evolve"
    enabled: bool = True


class IngestConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    sources: list[SourceConfig]


class LoadedConfig(msgspec.Struct, kw_only=True):
    """A decoded config: the typed sources plus what may safely be recorded about them."""

    path: str
    config: IngestConfig
    raw: dict[str, Any]  # unexpanded: safe to record
    # every expanded ${VAR} value and every secret-looking literal: masked in what is recorded
    secrets: Secrets = msgspec.field(default_factory=Secrets)

    def source(self, name: str) -> SourceConfig:
        for source in self.config.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.config.sources)
        raise ConfigError(f"{self.path}: no source named {name!r} (sources: {known})")

    def recorded(self, name: str) -> dict[str, Any]:
        """The source's config as written (``${VAR}`` unexpanded), safe to record in events:
        a secret-looking key holding a literal value (not a ``${VAR}`` reference) is masked."""
        index = [s.name for s in self.config.sources].index(name)
        return self.secrets.mask(masked_config(self.raw["sources"][index]))  # type: ignore[no-any-return]

    def hash_of(self, name: str) -> str:
        return config_hash(self.recorded(name))

    def redact(self, message: str) -> str:
        return self.secrets.text(message)


def load(path: str | os.PathLike[str], only: Iterable[str] | None = None) -> LoadedConfig:
    """Read and check ``path`` (TOML, or YAML with pyyaml installed).

    ``${VAR}`` references are expanded for the sources in ``only`` (default: all); a missing
    variable there is an error naming the key path.
    """
    where = os.fspath(path)
    try:
        text = Path(where).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read ingest config {where}: {exc.strerror}; pass the path of your sources.toml"
        ) from None
    raw = _parse(where, text)
    return decode(raw, where, only)


def decode(raw: Any, where: str = "<config>", only: Iterable[str] | None = None) -> LoadedConfig:
    """Check an already parsed config object (see ``load``)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with a 'sources' list at the top")
    wanted = set(only) if only is not None else None
    secrets = Secrets()
    expanded: dict[str, Any] = {**raw}
    if isinstance(raw.get("sources"), list):
        expanded["sources"] = [
            _expand(
                s,
                f"sources[{i}]",
                where,
                secrets,
                strict=wanted is None or (isinstance(s, dict) and s.get("name") in wanted),
            )
            for i, s in enumerate(raw["sources"])
        ]
    try:
        config = msgspec.convert(expanded, IngestConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {_with_path(str(exc))}") from None
    names = [s.name for s in config.sources]
    for source in raw["sources"]:
        if isinstance(source, dict) and (wanted is None or source.get("name") in wanted):
            secrets.add_literals(source, f"{source.get('name')}")
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{where}: `sources[{i}].name`: source {name!r} is defined twice")
    if wanted:
        missing = sorted(wanted - set(names))
        if missing:
            raise ConfigError(f"{where}: no source named {', '.join(missing)} (sources: {', '.join(names)})")
    loaded = LoadedConfig(path=where, config=config, raw=raw, secrets=secrets)
    from lakeledger.ingest.extract.sources import check_options  # late: sources import this module

    for i, source in enumerate(config.sources):
        if wanted is None or source.name in wanted:
            check_options(source, f"{where}: `sources[{i}]")
    return loaded


def _parse(where: str, text: bytes) -> Any:
    if where.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"{where}: YAML configs need pyyaml: pip install 'lakeledger[yaml]' (or use TOML)"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    try:
        return msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None


def _expand(value: Any, path: str, where: str, secrets: Secrets, *, strict: bool) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}", where, secrets, strict=strict) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]", where, secrets, strict=strict) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in os.environ:
            if not strict:
                return match.group(0)
            raise ConfigError(
                f"{where}: `{path}` references ${{{var}}} but the environment variable {var} is "
                "not set; export it or change the config"
            )
        found = os.environ[var]
        secret = bool(SECRET_NAME.search(var) or SECRET_NAME.search(path.rsplit(".", 1)[-1]))
        secrets.add(found, match.group(0), secret=secret)
        return found

    return _ENV.sub(sub, value)



def _with_path(message: str) -> str:
    """msgspec says ``... - at `$.sources[2].cursor```; lead with the path instead."""
    text, sep, at = message.rpartition(" - at ")
    if not sep:
        return message
    return f"{at.replace('$.', '', 1)}: {text}"
