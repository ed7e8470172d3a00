"""The one lineage rule: the input reference grammar and the decision (pure)."""

from __future__ import annotations

import pytest
from lakeledger.store.errors import InvalidInput
from lakeledger.store.lineage import Facts, Input, Ref, decide, decide_all, parse_ref, split_dataset


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("features@v3", Ref("features", "any", "v3")),
        ("bronze/sales@sha256:ab12", Ref("bronze/sales", "any", "sha256:ab12")),
        ("dataset/sales", Ref("sales", "dataset")),
        ("dataset/bronze/sales/date=2025-03-01", Ref("bronze/sales/date=2025-03-01", "dataset")),
        ("artifact/model", Ref("model", "artifact")),
        ("plain", Ref("plain")),
    ],
)
def test_reference_grammar(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref and str(ref) == text


def test_bad_references_name_the_fix() -> None:
    with pytest.raises(InvalidInput, match="not a version pin"):
        parse_ref("features@latest")
    with pytest.raises(InvalidInput, match="names nothing"):
        parse_ref("dataset/")
    assert parse_ref("features@latest", strict=False) == Ref("features@latest")
    assert split_dataset("bronze/sales/date=1", {"bronze/sales", "bronze"}) == ("bronze/sales", "date=1")
    assert split_dataset("sales", set()) == ("sales", None)


def test_decide_precedence_and_reasons() -> None:
    base = Facts("a", "u", "h1", "h1", True)
    assert decide(base).status == "fresh"
    assert decide(Facts("a", "u", "h1", None, False)).status == "orphaned"
    moved = Facts("a", "u", "h1", "h2", True, inputs=(Input("x@v1", current="x@v2"),))
    verdict = decide(moved)
    assert verdict.status == "stale" and verdict.reasons == (
        "config a is now h2, artifact built with h1", "input changed (x@v1 -> x@v2)")
    assert decide(Facts("a", "u", "h1", "h2", True, missing=True)).status == "missing"
    pinned_same = Facts("a", "u", "h1", "h1", True, inputs=(Input("x@v1", current="x@v1", changed_later=True),))
    assert decide(pinned_same).status == "fresh"  # the pin decides when the current version is known
    assert decide(Facts("a", "u", "h1", "h1", True, inputs=(Input("x@v1", gone=True),))).reasons == (
        "input x@v1 is gone from storage",)
    chain = {
        "up": Facts("up", "u1", "h1", "h2", True),
        "mid": Facts("mid", "u2", "h", "h", True, inputs=(Input("up@v1", current="up@v1", upstream="up"),)),
        "down": Facts("down", "u3", "h", "h", True, inputs=(Input("mid@v0", current="mid@v0", upstream="mid"),)),
        "loop": Facts("loop", "u4", "h", "h", True, inputs=(Input("loop@v0", upstream="loop"),)),
    }
    got = decide_all(chain)
    assert [got[n].status for n in ("up", "mid", "down", "loop")] == ["stale", "stale", "stale", "fresh"]
    assert got["down"].reasons == ("upstream mid is stale",)
