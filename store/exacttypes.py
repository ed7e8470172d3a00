"""Compiled exact-type tests of events: "every field is exactly of its plain declared type".

Admission runs one on every ``log_metric``, so it must cost well under a microsecond: per event
class, the field types msgspec declares are turned into one Python expression and compiled (a
loop of closures cost 5x more). An event that passes reads back as itself for every reader, so
it needs no JSON round trip; one with dicts, lists or out-of-range values takes the full check.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from .events import Event

INT64 = (-(2**63), 2**63 - 1)

Check = Callable[[Event], bool]


def _expr(t: msgspec.inspect.Type, x: str, env: dict[str, Any]) -> str | None:
    """A Python expression testing ``x`` exactly against a plain field type (None: not plain)."""
    i = msgspec.inspect
    int64 = f"(type({x}) is int and LO <= {x} <= HI)"
    if isinstance(t, i.StrType) and t == i.StrType():
        return f"type({x}) is str"
    if isinstance(t, i.IntType) and t == i.IntType():
        return int64
    if isinstance(t, i.FloatType) and t == i.FloatType():
        return f"((type({x}) is float and isfinite({x})) or {int64})"
    if isinstance(t, i.BoolType):
        return f"type({x}) is bool"
    if isinstance(t, i.NoneType):
        return f"{x} is None"
    if isinstance(t, i.LiteralType) and all(isinstance(v, str) for v in t.values):
        name = f"L{len(env)}"
        env[name] = frozenset(t.values)
        return f"(type({x}) is str and {x} in {name})"
    if isinstance(t, i.DateTimeType) and t.tz:
        return f"(type({x}) is datetime and {x}.tzinfo is not None)"
    if isinstance(t, i.AnyType):  # a scalar comes back from JSON as itself; dicts, lists: round trip
        scalar = f"type({x}) is str or type({x}) is bool or (type({x}) is float and isfinite({x}))"
        return f"({x} is None or {scalar} or {int64})"
    if isinstance(t, i.UnionType):
        parts = [_expr(m, x, env) for m in t.types]
        return None if None in parts else "(" + " or ".join(parts) + ")"  # type: ignore[arg-type]
    return None


@functools.cache
def exact_check(cls: type[Event]) -> Check | None:
    """Per class, one compiled predicate "every field is exactly of its plain declared type",
    or None when a field is not plain (dicts, lists: those take the full round trip; an ``Any``
    field is plain when its value is a scalar).
    Compiled because it runs on every ``log_metric``: a loop of closures cost 5x more."""
    env: dict[str, Any] = {"isfinite": math.isfinite, "datetime": datetime}
    env["LO"], env["HI"] = INT64
    terms = []
    for f in msgspec.inspect.type_info(cls).fields:  # type: ignore[union-attr]
        term = _expr(f.type, f"e.{f.name}", env)
        if term is None:
            return None
        terms.append(term)
    exec("def check(e):\n    return " + " and ".join(terms), env)
    return env["check"]  # type: ignore[no-any-return]


def plainly_valid(event: Event) -> bool:
    """True when every field is exactly of its plain declared type (no round trip needed)."""
    check = exact_check(type(event))
    return check is not None and check(event)
