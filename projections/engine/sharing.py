"""Each event kind's payloads decoded once per reduction, for every view part that reads it.

Several parts read the same kind: ``run.started`` feeds a run's first facts, its params, its
tags and its experiment's run count; ``artifact.registered`` four views; ``partition.observed``
three. Each part asks ``payload.rows`` for its own fields, and each plan decoded the payloads
again. Inside ``shared(events, build)`` the plans are built twice: the first time only records
which fields each kind is asked for, the second hands every part the one decode plan of its
kind (the union of the fields, the same ``LazyFrame`` object each time), which ``collect_all``
evaluates once (common subplan elimination). Values do not depend on which other fields are
decoded beside them (property-tested), so the states are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TypeVar

import polars as pl

T = TypeVar("T")
Classes = tuple[type, ...]
Decode = Callable[[pl.LazyFrame, Classes, Sequence[str], Sequence[str]], pl.LazyFrame]


class Sharer:
    """The decode plans of one reduction over ``events``: recording, then handing out."""

    def __init__(self, events: pl.LazyFrame) -> None:
        self.events = events
        self.wanted: dict[Classes, tuple[dict[str, None], dict[str, None]]] = {}
        self.plans: dict[Classes, pl.LazyFrame] | None = None  # None: still recording

    def decoded(
        self, classes: Classes, fields: Sequence[str], texts: Sequence[str], decode: Decode
    ) -> pl.LazyFrame | None:
        """The shared decode plan of ``classes`` holding ``fields`` (decoded) and ``texts``
        (JSON text); None for a request not seen while recording (decode alone). While
        recording: a stand-in with the same columns (the plans built on it are dropped)."""
        if self.plans is None:
            asked, text = self.wanted.setdefault(classes, ({}, {}))
            asked.update(dict.fromkeys(fields))
            text.update(dict.fromkeys(texts))
            return _stand_in(self.events, classes, tuple(fields), tuple(texts), decode)
        if classes not in self.wanted:
            return None
        asked, text = self.wanted[classes]
        if not (set(fields) <= asked.keys() and set(texts) <= text.keys()):
            return None
        plan = self.plans.get(classes)
        if plan is None:
            # in the class's field order: one plan whatever order the parts asked for fields in
            order = {f: i for i, f in enumerate(getattr(classes[0], "__struct_fields__", ()))}
            union = sorted(asked, key=lambda f: order.get(f, len(order)))
            plan = self.plans[classes] = decode(self.events, classes, union, list(text))
        return plan


def _stand_in(
    events: pl.LazyFrame, classes: Classes, fields: tuple[str, ...], texts: tuple[str, ...], decode: Decode
) -> pl.LazyFrame:
    """A decode plan kept across reductions, only to build (and drop) the recording pass's
    plans on: building them on each chunk's events was ~1/3 of the per-chunk planning."""
    key = (classes, fields, texts, decode)
    plan = _STAND_INS.get(key)
    if plan is None:
        plan = _STAND_INS[key] = decode(events.clear(), classes, fields, texts)
    return plan


_STAND_INS: dict[tuple[object, ...], pl.LazyFrame] = {}
_CURRENT: ContextVar[Sharer | None] = ContextVar("lakeledger_sharer", default=None)


def current(events: pl.LazyFrame) -> Sharer | None:
    """The sharer of the reduction under way over this very ``events`` frame, if any."""
    sharer = _CURRENT.get()
    return sharer if sharer is not None and sharer.events is events else None


def shared(events: pl.LazyFrame, build: Callable[[], T]) -> T:
    """``build()`` (plans over ``events``), each kind's payloads decoded once among them."""
    sharer = Sharer(events)
    token = _CURRENT.set(sharer)
    try:
        build()  # records what each kind is asked for
        sharer.plans = {}
        return build()
    finally:
        _CURRENT.reset(token)
