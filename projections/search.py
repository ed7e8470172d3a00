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
from lakeledger.projections.search_sources import Aligned, Source, align
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

__all__ = [
    "Aligned", "FilterError", "Source", "align", "compile_filter", "parse", "parse_columns",
    "parse_order", "search",
]

NUMERIC_MAPS = frozenset({"metrics"})  # JSON map columns whose values are numbers


@dataclass(frozen=True)
class Fields:
    """What identifiers mean over one frame: its columns, JSON map columns, attribute aliases,
    and ``sources``: typed ``(id, key, value)`` rows per map, joined in by ``id`` instead of
    parsing JSON text per row (what makes a filter over 100k runs fast)."""

    schema: pl.Schema
    aliases: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    what: str = "--filter"
    sources: Mapping[str, Source | Aligned] = field(default_factory=dict)
    joins: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (map, key)

    def error(self, ident: Ident | Compare, message: str) -> FilterError:
        return FilterError(self.what, self.text, ident.at, message)

    def column(self, ident: Ident) -> tuple[pl.Expr, pl.DataType]:
        """The expression an identifier reads and its type (JSON map values come as text)."""
        if ident.map is not None and ident.map in self.sources:
            column = f"\x00{ident.map}.{ident.key}"
            self.joins[column] = (ident.map, ident.key)
            value = self.sources[ident.map]
            dtype = value.dtype if isinstance(value, Aligned) else value.frame.schema[value.value]
            return pl.col(column), dtype
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
            known = ", ".join(sorted(n for n in {*self.schema, *self.aliases} if n[:1] != "\x00"))
            raise self.error(ident, f"unknown field {ident.key!r}; fields: {known}")
        return pl.col(name), self.schema[name]

    def compile(self, node: Node) -> pl.Expr:
        if isinstance(node, BoolOp):
            exprs = [self.compile(n) for n in node.items]
            return pl.all_horizontal(exprs) if node.op == "and" else pl.any_horizontal(exprs)
        if node.ident.map is not None and node.ident.map in self.sources:
            return self._sourced(node)
        expr, dtype = self.column(node.ident)
        return self._compare(node, expr, dtype)

    def _sourced(self, node: Compare) -> pl.Expr:
        """A comparison on a map with typed rows: evaluated over those rows once (vectorised),
        then a membership test of the row's id. No per-row JSON, no join over every row."""
        source = self.sources[node.ident.map]  # type: ignore[index]
        if isinstance(source, Aligned):
            rows, id = source.rows(node.ident.key), "row"
        else:
            rows, id = source.frame.filter(pl.col("key") == node.ident.key), source.id
        value = pl.col(source.value)
        if node.op == "isnull":
            present = rows.filter(value.is_not_null())[id]
            inside = self._member(source, present)
            return inside if node.negate else ~inside
        keep = rows.filter(self._compare(node, value, rows.schema[source.value]))
        return self._member(source, keep[id])

    @staticmethod
    def _member(source: Source | Aligned, ids: pl.Series) -> pl.Expr:
        if isinstance(source, Aligned):
            return source.mask(ids)
        return pl.col(source.id).is_in(ids.implode())

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
    frame: pl.DataFrame | pl.LazyFrame,
    filter: str | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    columns: str | Sequence[str] | None = None,
    aliases: Mapping[str, str] | None = None,
    sources: Mapping[str, Source | Aligned] | None = None,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Rows of a view that pass ``filter``, sorted by ``order_by``, at most ``limit``, with
    ``columns`` (each a field such as ``metrics.auc``, named as written) or all columns.

    ``sources`` gives maps as typed rows (see ``Fields``); other maps are read from the
    frame's JSON text columns. ``where``: a condition of the caller's own, and-ed to the filter
    (e.g. the experiments an MLflow search is limited to)."""
    aliases, sources = aliases or {}, sources or {}
    out = frame.lazy()
    schema = out.collect_schema()
    columns_before = list(schema)

    def fields(spec: str, what: str) -> Fields:
        return Fields(schema, aliases, spec, what, sources)

    filtering = fields(filter or "", "--filter")
    node = parse(filter or "")
    expr = None if node is None else filtering.compile(node)
    if where is not None:
        expr = where if expr is None else expr & where
    sort_keys: list[pl.Expr] = []
    orders = parse_order(order_by) if order_by else []
    by = fields(order_by if isinstance(order_by, str) else ",".join(order_by or []), "--order-by")
    sort_keys = [by.column(o.ident)[0] for o in orders]
    chosen: list[pl.Expr] = []
    if columns:
        spec = columns if isinstance(columns, str) else ",".join(columns)
        shown = fields(spec, "--columns")
        chosen = [shown.column(i)[0].alias(i.text) for i in parse_columns(spec)]
        joins = {**by.joins, **shown.joins}
    else:
        joins = dict(by.joins)
    if limit is not None and limit < 0:
        raise InvalidInput(f"--limit {limit} must be 0 or more")
    # aligned map values the sort or the columns read: added before the filter (a scatter)
    aligned = {c: mk for c, mk in joins.items() if isinstance(sources[mk[0]], Aligned)}
    if aligned:
        out = out.with_columns(
            [sources[m].series(k, c) for c, (m, k) in aligned.items()]  # type: ignore[union-attr]
        )
    if expr is not None:
        out = out.filter(expr)
    # other typed map values the sort or the columns read: joined in after the filter
    for column, (map_name, key) in joins.items():
        source = sources[map_name]
        if isinstance(source, Source):
            out = out.join(source.column(key, column), on=source.id, how="left", maintain_order="left")
    if sort_keys:
        out = out.sort(
            sort_keys,
            descending=[o.descending for o in orders],
            nulls_last=True,
            maintain_order=True,
        )
    if limit is not None:
        out = out.head(limit)
    out = out.select(chosen) if chosen else out.select(columns_before)
    return out.collect()
