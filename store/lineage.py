"""The lineage rule: how inputs are referred to, and when an artifact is fresh, stale or missing.

``Stage.freshness`` (before running), the ``staleness`` view and the ``check`` gate all ask
``decide``, so they cannot disagree: they differ only in how they gather the ``Facts`` (a stage
from the ledger and storage, the view from events plus facts supplied from storage).

Input references (what ``artifact.registered.inputs`` holds):
- ``name@v3``: the Delta table ``name`` (a registered artifact, else a path under the root) at
  version 3; ``name@sha256:<hex>``: Parquet files of that content. What stages write.
- ``artifact/NAME``, ``dataset/NAME``, ``dataset/NAME/PARTITION``, bare ``NAME``: unpinned; they
  changed when the named thing was registered/observed again after the artifact was.

A pinned input is judged by its pin against the input's current version when that is known (from
the log or supplied from storage); when it is not (a view as of a past moment), by the log.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import msgspec

from .errors import InvalidInput

Status = Literal["fresh", "stale", "missing", "orphaned"]
Scope = Literal["any", "artifact", "dataset"]
_PIN = re.compile(r"^(v\d+|sha256:[0-9a-fA-F]+)$")


class Ref(msgspec.Struct, frozen=True):
    name: str  # artifact, table path or dataset (``dataset/`` scope: may hold the partition)
    scope: Scope = "any"
    pin: str | None = None  # "v3" or "sha256:<hex>"

    def __str__(self) -> str:
        prefix = "" if self.scope == "any" else f"{self.scope}/"
        return f"{prefix}{self.name}" + (f"@{self.pin}" if self.pin else "")

    def pinned(self, pin: str) -> str:
        """The reference to the same input at ``pin`` (``features@v4``)."""
        return f"{Ref(self.name, self.scope)}@{pin}"


@functools.lru_cache(maxsize=65536)
def parse_ref(text: str, *, strict: bool = True) -> Ref:
    """Read an input reference; an ``@`` suffix that is no pin is an error naming the fix
    (``strict=False``, for what is already in the log: the whole text is the name)."""
    base, at, pin = text.rpartition("@")
    if not at:
        base, pin = text, ""
    elif not _PIN.match(pin):
        if not strict:
            return Ref(text)
        raise InvalidInput(
            f"input {text!r}: {pin!r} is not a version pin; write name@v<delta version> or "
            "name@sha256:<content hash>, or no @ at all"
        )
    scope: Scope = "any"
    for prefix in ("artifact", "dataset"):
        if base.startswith(prefix + "/"):
            scope, base = prefix, base[len(prefix) + 1 :]  # type: ignore[assignment]
    if not base:
        raise InvalidInput(f"input {text!r} names nothing; write e.g. features@v3 or dataset/sales")
    return Ref(base, scope, pin or None)


def split_dataset(rest: str, known: set[str]) -> tuple[str, str | None]:
    """``sales/date=2025-03-01`` -> (``sales``, ``date=2025-03-01``): the longest declared or
    observed dataset name that prefixes ``rest`` (dataset names may hold ``/``)."""
    if rest in known:
        return rest, None
    best = ""
    for i, ch in enumerate(rest + "/"):
        if ch == "/" and rest[:i] in known:
            best = rest[:i]
    if not best:
        head, _, tail = rest.partition("/")
        return head, tail or None
    return best, rest[len(best) + 1 :] or None


class Input(msgspec.Struct, frozen=True):
    """What is known now about one input of an artifact."""

    ref: str  # as recorded
    current: str | None = None  # its current pinned reference, when known (log or storage)
    changed_later: bool = False  # the log recorded the named thing again after the artifact
    gone: bool = False  # it no longer exists in storage
    upstream: str | None = None  # the registered artifact it names, if any


class Facts(msgspec.Struct, frozen=True):
    """What decides an artifact's status; gathered by the stage or by the view."""

    name: str
    uri: str
    config_hash: str | None  # what it was built with
    declared_hash: str | None  # the latest declared config of its name
    owned: bool  # a config or dataset of its name is declared, its hash is a declared one, or a run logged it
    missing: bool = False  # its own data is gone from storage
    inputs: tuple[Input, ...] = ()


class Verdict(msgspec.Struct, frozen=True):
    status: Status
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def decide(facts: Facts, upstream_stale: tuple[str, ...] = ()) -> Verdict:
    """The one rule. ``missing`` (its data is gone) before ``stale`` (config moved on, an input
    changed or is gone, or an upstream artifact is stale or missing) before ``orphaned`` (nothing
    owns it) before ``fresh``. ``upstream_stale``: names of inputs' artifacts found stale."""
    if facts.missing:
        return Verdict("missing", (f"file {facts.uri} is gone from storage",))
    reasons: list[str] = []
    if facts.declared_hash is not None and facts.declared_hash != facts.config_hash:
        built = (facts.config_hash or "none")[:12]
        reasons.append(f"config {facts.name} is now {facts.declared_hash[:12]}, artifact built with {built}")
    for item in facts.inputs:
        if item.gone:
            reasons.append(f"input {item.ref} is gone from storage")
        elif item.current is not None and parse_ref(item.ref, strict=False).pin is not None:
            if item.current != item.ref:
                reasons.append(f"input changed ({item.ref} -> {item.current})")
        elif item.changed_later:
            reasons.append(f"input {item.ref} changed after it was registered")
    reasons += [f"upstream {name} is stale" for name in upstream_stale]
    if reasons:
        return Verdict("stale", tuple(reasons))
    if not facts.owned:
        return Verdict("orphaned", ("no declared config or dataset owns it",))
    return Verdict("fresh")


def decide_all(facts: dict[str, Facts]) -> dict[str, Verdict]:
    """Every artifact's verdict, upstream first: an artifact whose input names a stale or missing
    artifact is stale too (that one re-runs, then so does this one). Cycles are cut."""
    out: dict[str, Verdict] = {}
    visiting: set[str] = set()

    def visit(name: str) -> Verdict:
        if name in out:
            return out[name]
        visiting.add(name)
        f = facts[name]
        stale = []
        for item in f.inputs:
            up = item.upstream
            if (
                up and up != name and up in facts and up not in visiting and up not in stale
                and visit(up).status in ("stale", "missing")
            ):
                stale.append(up)
        visiting.discard(name)
        out[name] = decide(f, tuple(stale))
        return out[name]

    for name in facts:
        visit(name)
    return out
