"""Secrets masked by value in everything an ingest records.

Whatever was expanded from ``${VAR}``, and every literal value of a secret-looking option (a
key like ``token``, ``access_token``, ``X-Api-Key``; a secret-looking query parameter of a URL),
is replaced by a placeholder wherever it appears: cursors, commit metadata, config events, error
messages, quarantine, origins. The placeholder of an expanded value is its reference
(``${API_TOKEN}``); a literal one gets ``${secret:<source>.<key path>}``. Masking is reversible
(one pass, longest value first), so a cursor holding a URL with a token in its query string is
recorded masked and expanded again when a run resumes from it.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import msgspec
import polars as pl

SECRET_NAME = re.compile(
    r"secret|token|passw(or)?d|^pwd$|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential"
    r"|authorization|signature|^sig$|^key$",
    re.I,
)
MIN_SECRET = 4  # a secret-looking value this long or longer is masked
MIN_VALUE = 6  # any other expanded ${VAR} value this long or longer is masked
_PLACEHOLDER = re.compile(r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*|secret:[^}]+)\}")


class Secrets(msgspec.Struct, kw_only=True):
    """value -> placeholder; a value is known once, under its first placeholder."""

    values: dict[str, str] = {}

    def add(self, value: str, placeholder: str, *, secret: bool = True) -> None:
        if len(value) < (MIN_SECRET if secret else MIN_VALUE) or value in self.values:
            return
        self.values[value] = placeholder
        _scheme, _, rest = value.partition(" ")  # "Bearer abc...": the credential alone too
        if rest and len(rest) >= MIN_SECRET and rest not in self.values and secret:
            self.values[rest] = placeholder + "#credential"

    def add_literals(self, tree: Any, prefix: str) -> None:
        """Every secret-looking literal in a config tree (``${VAR}`` references excluded)."""
        for path, key, value in _leaves(tree, prefix):
            if not isinstance(value, str) or _PLACEHOLDER.fullmatch(value):
                continue
            if SECRET_NAME.search(key):
                self.add(value, f"${{secret:{path}}}")
            for name, param in secret_params(value):
                if not _PLACEHOLDER.fullmatch(param):
                    self.add(param, f"${{secret:{path}?{name}}}")

    # -- masking -----------------------------------------------------------------------------
    def text(self, message: str) -> str:
        if not self.values or not message:
            return message
        return self._pattern().sub(lambda m: self.values[m.group(0)], message)

    def mask(self, value: Any) -> Any:
        """A JSON-like value with every string (and key) masked."""
        return _walk(value, self.text)

    def unmask(self, value: Any) -> Any:
        """The inverse of ``mask``: placeholders of known values are expanded again."""
        if not self.values:
            return value
        back = {p: v for v, p in self.values.items()}
        pattern = re.compile("|".join(re.escape(p) for p in sorted(back, key=len, reverse=True)))
        return _walk(value, lambda s: pattern.sub(lambda m: back[m.group(0)], s))

    def column(self, expr: pl.Expr) -> pl.Expr:
        """The same masking on a polars string column (longest value first)."""
        for value in sorted(self.values, key=len, reverse=True):
            expr = expr.str.replace_all(value, self.values[value], literal=True)
        return expr

    def _pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(v) for v in sorted(self.values, key=len, reverse=True)))


def secret_params(text: str) -> list[tuple[str, str]]:
    """Secret-looking query parameters and the password of a URL in ``text``."""
    if "://" not in text and "?" not in text:
        return []
    parts = urllib.parse.urlsplit(text)
    found = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if SECRET_NAME.search(k)]
    if parts.password:
        found.append(("password", parts.password))
    return found


def masked_config(value: Any, key: str = "") -> Any:
    """A config as it may be recorded: secret-looking literals become ``***`` (``${VAR}`` kept),
    and so do secret-looking query parameters of URLs."""
    if isinstance(value, dict):
        return {k: masked_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_config(v, key) for v in value]
    if not isinstance(value, str) or _PLACEHOLDER.fullmatch(value):
        return value
    if SECRET_NAME.search(key):
        return "***"
    for _name, param in secret_params(value):
        if not _PLACEHOLDER.fullmatch(param):
            value = value.replace(param, "***").replace(urllib.parse.quote(param, safe=""), "***")
    return value


def _leaves(tree: Any, path: str, key: str = "") -> list[tuple[str, str, Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in _leaves(v, f"{path}.{k}", str(k))]
    if isinstance(tree, list):
        return [leaf for i, v in enumerate(tree) for leaf in _leaves(v, f"{path}[{i}]", key)]
    return [(path, key, tree)]


def _walk(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {(fn(k) if isinstance(k, str) else k): _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, fn) for v in value]
    return value
