"""Events for property tests, derived from the msgspec classes (never a hand-written copy):
well-typed values most of the time, hostile ones (wrong types, NaN, control characters,
nested values, huge ints) often enough to probe every door."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import msgspec
from hypothesis import strategies as st
from lakeledger.store import events as ev

_i = msgspec.inspect

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
NAMES = st.sampled_from(["r1", "fraud", "sales", "m.pkl", "k", "date=2025-01-02"]) | st.text(max_size=8)


def typed(t: _i.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, _i.UnionType):
        return st.one_of([typed(x) for x in t.types])
    if isinstance(t, _i.NoneType):
        return st.none()
    if isinstance(t, _i.StrType):
        return NAMES
    if isinstance(t, _i.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, _i.BoolType):
        return st.booleans()
    if isinstance(t, _i.IntType):
        return st.integers(-3, 5) | st.integers(-(2**63), 2**63 - 1)
    if isinstance(t, _i.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(t, _i.DateType):
        return st.dates()
    if isinstance(t, _i.DateTimeType):
        return st.datetimes(timezones=st.just(UTC))
    if isinstance(t, _i.ListType):
        return st.lists(typed(t.item_type), max_size=3)
    if isinstance(t, _i.DictType):
        return st.dictionaries(NAMES, typed(t.value_type), max_size=3)
    return JSON


HOSTILE = JSON | st.floats() | st.integers() | st.text(alphabet="\x00\n\u2028./é", max_size=6)


@st.composite
def events(draw: st.DrawFn, kinds: list[str] | None = None) -> ev.Event:
    cls = ev.KINDS[draw(st.sampled_from(kinds or sorted(ev.KINDS)))]
    info = _i.type_info(cls)
    fields: dict[str, Any] = {}
    for f in info.fields:  # type: ignore[union-attr]
        if f.name in ("event_id", "schema_version"):
            continue
        required = f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT
        if required or draw(st.booleans()):
            fields[f.name] = draw(typed(f.type))
    if fields and draw(st.booleans()):  # half the events: one field given what a careless caller passes
        fields[draw(st.sampled_from(sorted(fields)))] = draw(HOSTILE)
    try:
        return cls(**fields)  # Struct constructors do not check types: the doors must
    except TypeError:
        return cls(**{k: v for k, v in fields.items() if k != "occurred_at"})
