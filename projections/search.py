"""One filter language for every view: MLflow's search syntax, plus ``OR`` and parentheses.

    metrics.auc > 0.9 and params.lr = '0.05' and tags.team != 'x' and attributes.status = 'success'
    (tags.team IN ('risk', 'fraud') OR name ILIKE 'churn%') AND metrics.loss <= 1e-3

A small recursive-descent parser, not sqlglot: the grammar is a dozen rules, MLflow's dotted and
backquoted keys (``metrics.`val loss```) are not SQL, and our own tokens let every error point at
the column where the filter went wrong. The AST compiles to one polars expression over a view's
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
from lakeledger.store.errors import InvalidInput

Value = str | float | bool | None

# prefix as written -> the view's JSON column it reads (``None``: a plain column)
PREFIXES: dict[str, str | None] = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": None,
    "attributes": None,
    "attr": None,
}
NUMERIC_MAPS = frozenset({"metrics"})
COMPARISONS = ("=", "==", "!=", "<>", "<", "<=", ">", ">=")


class FilterError(InvalidInput):
    """A filter, order or column spec that does not parse or names nothing; points at the token."""

    def __init__(self, what: str, text: str, at: int, message: str) -> None:
        caret = " " * at + "^"
        super().__init__(f"{what}: {message} at column {at + 1}:\n  {text}\n  {caret}")
        self.position = at


# -- tokens ------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])
    | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<quoted>`[^`]*`)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),.])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number string quoted word op punct end
    text: str
    at: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(text: str, what: str = "--filter") -> list[Token]:
    tokens: list[Token] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            skip = len(text[at:]) - len(text[at:].lstrip())
            raise FilterError(what, text, at + skip, f"unexpected character {text[at + skip]!r}")
        kind = match.lastgroup
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if token.kind != "quoted" else body


# -- the AST -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ident:
    """``prefix.key`` (``map`` names the JSON column) or a plain column ``key``."""

    map: str | None
    key: str
    at: int
    text: str


@dataclass(frozen=True)
class Compare:
    ident: Ident
    op: str  # = != < <= > >= like ilike in isnull
    values: tuple[Value, ...]
    negate: bool = False
    at: int = 0


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    items: tuple[Node, ...]


Node = Compare | BoolOp


@dataclass
class _Parser:
    text: str
    what: str
    tokens: list[Token] = field(default_factory=list)
    i: int = 0

    def __post_init__(self) -> None:
        self.tokens = tokenize(self.text, self.what)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str, token: Token | None = None) -> FilterError:
        token = token or self.tok
        return FilterError(self.what, self.text, token.at, message)

    def take(self) -> Token:
        token = self.tok
        self.i += 1
        return token

    def expect(self, text: str, after: str) -> Token:
        if self.tok.text.upper() != text:
            raise self.fail(f"expected {text!r} {after}, found {self.tok.text or 'the end'!r}")
        return self.take()

    def expr(self) -> Node:
        items = [self.conj()]
        while self.tok.upper == "OR":
            self.take()
            items.append(self.conj())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conj(self) -> Node:
        items = [self.atom()]
        while self.tok.upper == "AND":
            self.take()
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def atom(self) -> Node:
        if self.tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect(")", "to close the parenthesis")
            return inner
        return self.comparison()

    def ident(self) -> Ident:
        start = self.tok
        if start.kind not in ("word", "quoted"):
            raise self.fail(
                "expected a field such as metrics.auc, params.lr, tags.team or status, "
                f"found {start.text or 'the end'!r}"
            )
        parts = [self._name(self.take())]
        while self.tok.text == ".":
            self.take()
            if self.tok.kind not in ("word", "quoted", "string", "number"):
                raise self.fail(f"expected a key after {'.'.join(parts)}.")
            parts.append(self._name(self.take()))
        end = self.tokens[self.i - 1]
        text = self.text[start.at : end.at + len(end.text)]
        head = parts[0].lower()
        if len(parts) > 1 and head in PREFIXES:
            return Ident(PREFIXES[head], ".".join(parts[1:]), start.at, text)
        if len(parts) > 1 and start.kind == "word":
            raise FilterError(
                self.what,
                self.text,
                start.at,
                f"unknown prefix {parts[0]!r}; use metrics., params., tags. or attributes.",
            )
        return Ident(None, ".".join(parts), start.at, text)

    @staticmethod
    def _name(token: Token) -> str:
        return _unquote(token) if token.kind in ("quoted", "string") else token.text

    def value(self) -> Value:
        token = self.tok
        if token.kind == "string":
            self.take()
            return _unquote(token)
        if token.kind == "number":
            self.take()
            return float(token.text)
        if token.upper in ("TRUE", "FALSE"):
            self.take()
            return token.upper == "TRUE"
        raise self.fail(
            f"expected a value ('text', a number, true or false), found {token.text or 'the end'!r}"
        )

    def comparison(self) -> Compare:
        ident = self.ident()
        op_token = self.tok
        negate = False
        if op_token.upper == "NOT":
            self.take()
            negate = True
            if self.tok.upper not in ("IN", "LIKE", "ILIKE"):
                raise self.fail("expected IN, LIKE or ILIKE after NOT")
        token = self.tok
        if token.upper == "IS":
            self.take()
            if self.tok.upper == "NOT":
                self.take()
                negate = True
            self.expect("NULL", "after IS [NOT]")
            return Compare(ident, "isnull", (), negate, token.at)
        if token.upper == "IN":
            self.take()
            self.expect("(", "after IN")
            values = [self.value()]
            while self.tok.text == ",":
                self.take()
                values.append(self.value())
            self.expect(")", "to close the IN list")
            return Compare(ident, "in", tuple(values), negate, token.at)
        if token.upper in ("LIKE", "ILIKE"):
            self.take()
            pattern = self.tok
            if pattern.kind != "string":
                raise self.fail(f"{token.upper} takes a quoted pattern such as 'churn%'")
            self.take()
            return Compare(ident, token.upper.lower(), (_unquote(pattern),), negate, token.at)
        if token.kind != "op":
            raise self.fail(
                "expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) "
                f"after {ident.text}, found {token.text or 'the end'!r}"
            )
        self.take()
        op = {"==": "=", "<>": "!="}.get(token.text, token.text)
        return Compare(ident, op, (self.value(),), False, token.at)


def parse(text: str, what: str = "--filter") -> Node | None:
    """The AST of a filter (``None`` for an empty one); ``FilterError`` points at the token."""
    if not text or not text.strip():
        return None
    parser = _Parser(text, what)
    node = parser.expr()
    if parser.tok.kind != "end":
        raise parser.fail(f"expected AND, OR or the end, found {parser.tok.text!r}")
    return node


@dataclass(frozen=True)
class Order:
    ident: Ident
    descending: bool


def parse_order(spec: str | Sequence[str]) -> list[Order]:
    """``metrics.auc DESC, started_at`` (or a list of such clauses) into sort keys."""
    clauses = [spec] if isinstance(spec, str) else list(spec)
    orders: list[Order] = []
    for clause in clauses:
        parser = _Parser(clause, "--order-by")
        while True:
            ident = parser.ident()
            descending = False
            if parser.tok.upper in ("ASC", "DESC"):
                descending = parser.take().upper == "DESC"
            orders.append(Order(ident, descending))
            if parser.tok.text != ",":
                break
            parser.take()
        if parser.tok.kind != "end":
            raise parser.fail(f"expected ASC, DESC, a comma or the end, found {parser.tok.text!r}")
    return orders


def parse_columns(spec: str | Sequence[str]) -> list[Ident]:
    text = spec if isinstance(spec, str) else ",".join(spec)
    parser = _Parser(text, "--columns")
    idents = [parser.ident()]
    while parser.tok.text == ",":
        parser.take()
        idents.append(parser.ident())
    if parser.tok.kind != "end":
        raise parser.fail(f"expected a comma or the end, found {parser.tok.text!r}")
    return idents


# -- compiling ---------------------------------------------------------------------------------
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
