"""One filter language for every view: MLflow's search syntax, plus ``OR`` and parentheses.

    metrics.auc > 0.9 and params.lr = '0.05' and tags.team != 'x' and attributes.status = 'success'
    (tags.team IN ('risk', 'fraud') OR name ILIKE 'churn%') AND metrics.loss <= 1e-3

The syntax (``search_syntax.py``, a small recursive-descent parser: not sqlglot, because MLflow's
dotted and backquoted keys are not SQL and our own tokens let errors point at the column) gives
an AST; this module compiles it to one polars expression over a view's
rows: ``metrics.*``/``params.*``/``tags.*`` read the view's JSON columns, anything else (with or
without ``attributes.``) a column. Semantics are two-valued: a comparison with a missing key or a
null is false (MLflow drops runs without the key), ``IS [NOT] NULL`` tests presence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from lakeledger.projections.search_syntax import (
    BoolOp,
    Compare,
    FilterError,
    Ident,
    Node,
    Value,
    parse,
    parse_columns,
    parse_order,
)
from lakeledger.store.errors import InvalidInput

__all__ = ["FilterError", "compile_filter", "parse", "parse_columns", "parse_order", "search"]

NUMERIC_MAPS = frozenset({"metrics"})  # JSON map columns whose values are numbers

@dataclass(frozen=True)
class Fields:
    """What identifiers mean over one frame: its columns, JSON map columns, attribute aliases."""

    schema: pl.Schema
    aliases: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    what: str = "--filter"

    def error(self, ident: Ident | Compare, message: str) -> FilterError:
        return FilterError(self.what, self.text, ident.at, message)

    def column(self, ident: Ident) -> tuple[pl.Expr, pl.DataType]:
        """The expression an identifier reads and its type (JSON map values come as text)."""
        if ident.map is not None:
            if ident.map not in self.schema:
                raise self.error(ident, f"this view has no {ident.map}")
            path = (
                f"$.{ident.key}"
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident.key)
                else "$['" + ident.key.replace("\\", "\\\\").replace("'", "\\'") + "']"
            )
            expr = pl.col(ident.map).str.json_path_match(path)
            if ident.map in NUMERIC_MAPS:
                return expr.cast(pl.Float64, strict=False), pl.Float64()
            return expr, pl.String()
        name = self.aliases.get(ident.key, ident.key)
        if name not in self.schema:
            known = ", ".join(sorted(set(self.schema) | set(self.aliases)))
            raise self.error(ident, f"unknown field {ident.key!r}; fields: {known}")
        return pl.col(name), self.schema[name]

    def compile(self, node: Node) -> pl.Expr:
        if isinstance(node, BoolOp):
            exprs = [self.compile(n) for n in node.items]
            return pl.all_horizontal(exprs) if node.op == "and" else pl.any_horizontal(exprs)
        expr, dtype = self.column(node.ident)
        return self._compare(node, expr, dtype)

    def _compare(self, node: Compare, expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        if node.op == "isnull":
            out = expr.is_null()
            return ~out if node.negate else out
        if isinstance(dtype, pl.List):
            values = [self._literal(node, v, dtype.inner) for v in node.values]  # type: ignore[arg-type]
            hit = pl.any_horizontal([expr.list.contains(v) for v in values])
            if node.op not in ("=", "!=", "in"):
                raise self.error(node, f"{node.ident.text} is a list: use =, != or IN")
            out = hit if node.op != "!=" else ~hit
        elif node.op in ("like", "ilike"):
            if not (dtype == pl.String or dtype == pl.Categorical):
                raise self.error(node, f"LIKE needs text; {node.ident.text} is {dtype}")
            out = expr.str.contains(_like_regex(str(node.values[0]), node.op == "ilike"))
        else:
            text_vs_number = dtype == pl.String and isinstance(node.values[0], float)
            if text_vs_number:  # params.lr > 0.01: compare as numbers
                expr, dtype = expr.cast(pl.Float64, strict=False), pl.Float64()
            values = [self._literal(node, v, dtype) for v in node.values]
            if node.op == "in":
                out = pl.any_horizontal([expr == v for v in values])
            else:
                out = _OPS[node.op](expr, values[0])
        # a missing key or null fails every comparison, negated ones too (NOT IN, NOT LIKE)
        return (~out if node.negate else out).fill_null(False)

    def _literal(self, node: Compare, value: Value, dtype: pl.DataType) -> Any:
        """The literal as the column's type, or an error naming both."""
        if dtype.is_numeric():
            if isinstance(value, float):
                return value
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise self.error(node, f"{node.ident.text} is a number; compare it with a number")
        if dtype == pl.Boolean:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self.error(
                node, f"{node.ident.text} is true/false; compare it with true or false"
            )
        if isinstance(dtype, pl.Datetime):
            if isinstance(value, float):  # MLflow's times are epoch milliseconds
                return pl.lit(datetime.fromtimestamp(value / 1000, UTC)).cast(dtype)
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise self.error(
                    node, f"{node.ident.text} is a time; give an ISO time like '2025-03-01T12:00'"
                ) from None
            return pl.lit(moment if moment.tzinfo else moment.replace(tzinfo=UTC)).cast(dtype)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return _number_text(value)
        if dtype.is_temporal():
            return pl.lit(value).cast(dtype, strict=False)
        return value


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


_OPS = {
    "=": lambda e, v: e == v,
    "!=": lambda e, v: e != v,
    "<": lambda e, v: e < v,
    "<=": lambda e, v: e <= v,
    ">": lambda e, v: e > v,
    ">=": lambda e, v: e >= v,
}


def _like_regex(pattern: str, insensitive: bool) -> str:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return ("(?si)" if insensitive else "(?s)") + "^" + body + "$"


def compile_filter(
    text: str, schema: pl.Schema, aliases: Mapping[str, str] | None = None
) -> pl.Expr | None:
    """A filter as one boolean polars expression over rows with ``schema`` (None: keep all)."""
    node = parse(text)
    return None if node is None else Fields(schema, aliases or {}, text).compile(node)


def search(
    frame: pl.DataFrame,
    filter: str | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    columns: str | Sequence[str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Rows of a view that pass ``filter``, sorted by ``order_by``, at most ``limit``, with
    ``columns`` (each a field such as ``metrics.auc``, named as written) or all columns."""
    aliases = aliases or {}
    out = frame.lazy()
    expr = compile_filter(filter or "", frame.schema, aliases)
    if expr is not None:
        out = out.filter(expr)
    if order_by:
        orders = parse_order(order_by)
        spec = ",".join(order_by) if not isinstance(order_by, str) else order_by
        fields = Fields(frame.schema, aliases, spec, "--order-by")
        keys = [fields.column(o.ident)[0] for o in orders]
        out = out.sort(
            keys,
            descending=[o.descending for o in orders],
            nulls_last=True,
            maintain_order=True,
        )
    if limit is not None:
        if limit < 0:
            raise InvalidInput(f"--limit {limit} must be 0 or more")
        out = out.head(limit)
    if columns:
        spec = columns if isinstance(columns, str) else ",".join(columns)
        fields = Fields(frame.schema, aliases, spec, "--columns")
        out = out.select([fields.column(i)[0].alias(i.text) for i in parse_columns(spec)])
    return out.collect()
