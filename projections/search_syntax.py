"""The syntax of search filters: tokens, the AST and a recursive-descent parser.

A small hand-written parser, not sqlglot: the grammar is a dozen rules, MLflow's dotted and
backquoted keys (``metrics.`val loss```) are not SQL, and our own tokens let every error point at
the column where the filter went wrong. ``search.py`` compiles the AST to polars.

    filter     := conj (OR conj)*
    conj       := atom (AND atom)*
    atom       := '(' filter ')' | field op value | field [NOT] IN '(' value, ... ')'
                | field [NOT] (LIKE | ILIKE) 'pattern' | field IS [NOT] NULL
    field      := [prefix '.'] key ('.' key)*      key: word, `quoted` or "quoted"
    value      := 'text' | "text" | number | TRUE | FALSE
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

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
