"""The chunked full rebuild (issue 15): reducing a log chunk by chunk and merging equals
reducing it whole, exactly (row order included), for every view; on a real ledger the chunked
rebuild equals the incremental refresh, with cuts that never split a data file."""

from __future__ import annotations

import gc
import itertools
import json
from pathlib import Path

import msgspec
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.projections import registry
from lakeledger.projections.engine import freeform, materialise, payload, rebuild
from lakeledger.projections.engine.payload import decode_struct
from lakeledger.projections.engine.reading import has_repeats
from lakeledger.projections.engine.state import merge_views, reduce, reduce_views
from lakeledger.store import Ledger, LogSettings, compaction
from lakeledger.store import events as ev

from tests.projections_fixtures import log_frame
from tests.test_projections_refresh import COMMITS, _event, _foreign_duplicate, _raw_append

GROUPS = {name: view.parts for name, view in registry.VIEWS.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commits=COMMITS, cuts=st.lists(st.integers(0, 12), max_size=4))
def test_any_chunking_folds_to_the_whole_state(
    commits: list[list[ev.Event]], cuts: list[int]
) -> None:
    log = log_frame(commits).collect()
    bounds = sorted({0, *[min(c, len(commits)) for c in cuts], len(commits)})
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = log.filter((pl.col("version") > lo) & (pl.col("version") <= hi))
        pieces.append(reduce_views(GROUPS, chunk.lazy()))
    # merged all at once, and pairwise from the oldest (as the rebuild does every few chunks)
    states = merge_views(GROUPS, pieces)
    stepwise = pieces[0]
    for piece in pieces[1:]:
        stepwise = merge_views(GROUPS, [stepwise, piece])
    for name, view in registry.VIEWS.items():
        whole = reduce(view.parts, log.lazy())
        for part in view.parts:
            # exactly: same rows in the same order, same types (what the view table stores)
            assert states[name][part.name].equals(whole[part.name]), (name, part.name)
            assert states[name][part.name].schema == whole[part.name].schema, (name, part.name)
            assert stepwise[name][part.name].equals(whole[part.name]), (name, part.name)


def _chunks_of(root: Path) -> list[rebuild.Chunk]:
    ledger = Ledger.open(root, create=False)
    return rebuild.version_chunks(ledger.log.refresh(), ledger.version, 4)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(commits=st.lists(st.lists(_event(), min_size=1, max_size=4), min_size=4, max_size=10))
def test_chunked_full_rebuild_equals_incremental_refresh(tmp_path_factory, commits) -> None:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("ledger")
    ledger = Ledger.open(root, settings=LogSettings(compact_every=3))
    for batch in commits:
        _raw_append(ledger, batch, "alice")
        materialise.refresh(ledger)  # incremental, one commit at a time
    _foreign_duplicate(ledger, commits[0][0])  # an old id again, in the newest chunk
    materialise.refresh(ledger)
    incremental = {n: materialise.load(ledger, n)[0] for n in registry.VIEWS}
    chunks = _chunks_of(root)
    assert len(chunks) >= 2, chunks  # the rebuild below really folds several chunks
    assert chunks[-1].overlap  # the duplicate's id is older than the newest chunk's files
    original = rebuild.CHUNK_EVENTS
    try:
        rebuild.CHUNK_EVENTS = 4
        materialise.refresh(ledger, full=True)
    finally:
        rebuild.CHUNK_EVENTS = original
    for name, view in registry.VIEWS.items():
        full, through, fragments = materialise.load(ledger, name)
        assert through == ledger.version and fragments == 1
        for part in view.parts:
            assert incremental[name][part.name].equals(full[part.name]), (name, part.name)


def test_chunks_cut_between_files_and_cover_every_version(tmp_path: Path) -> None:
    # a compacted file spanning versions, then small files: maintenance by hand, so the files
    # are the same whatever the machine's timing (it otherwise runs after the appends return)
    ledger = Ledger.open(tmp_path / "l", settings=LogSettings(auto_maintain=False))
    for i in range(13):
        ledger.append([ev.ArtifactRegistered(name=f"a{i}", uri=f"a/{i}") for _ in range(3)])
        if i == 7:
            assert compaction.compact(ledger.log) is not None
    table = ledger.log.refresh()
    upto = table.version()
    chunks = rebuild.version_chunks(table, upto, 5)
    assert chunks[0].after == 0 and chunks[-1].upto == upto
    assert all(a.upto == b.after for a, b in itertools.pairwise(chunks))
    assert len(chunks) >= 2
    adds = pl.DataFrame(pa.table(table.get_add_actions(flatten=True)))
    for lo, hi in adds.select("min.version", "max.version").iter_rows():
        assert any(c.after < lo and hi <= c.upto for c in chunks), (lo, hi, chunks)
    # ids only grow here: no chunk needs to look back for duplicates
    assert not any(c.overlap for c in chunks)
    assert rebuild.version_chunks(table, 0, 5) == []
    assert rebuild.version_chunks(table, ledger.version, 10**9) == [
        rebuild.Chunk(0, ledger.version, False)
    ]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
_FIELDS = {"s": pl.String(), "b": pl.Boolean(), "i": pl.Int64(), "f": pl.Float64()}


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(
        st.dictionaries(st.sampled_from([*_FIELDS, "other"]), _VALUES, max_size=5), max_size=8
    ),
    well_typed=st.booleans(),
)
def test_fast_payload_decoding_equals_polars(payloads: list[dict], well_typed: bool) -> None:  # type: ignore[type-arg]
    """msgspec's decoding of flat fields gives exactly polars' ``json_decode`` (a batch with a
    value of another type is handed to polars whole)."""
    if well_typed:
        kinds = {"s": str, "b": bool, "i": int, "f": float}
        payloads = [
            {k: v for k, v in p.items() if k == "other" or v is None or type(v) is kinds[k]}
            for p in payloads
        ]
    texts = pl.DataFrame({"payload": [json.dumps(p) for p in payloads]}, schema={"payload": pl.String})
    try:
        expected = texts.select(pl.col("payload").str.json_decode(pl.Struct(_FIELDS)))
    except pl.exceptions.ComputeError:  # polars refuses the batch: so does the fast path
        with pytest.raises(pl.exceptions.ComputeError):
            texts.select(decode_struct(pl.col("payload"), _FIELDS))
        return
    got = texts.select(decode_struct(pl.col("payload"), _FIELDS))
    assert got.equals(expected)
    original = payload.SLICE
    try:
        payload.SLICE = 3  # decoded slice by slice, then put together
        assert texts.select(decode_struct(pl.col("payload"), _FIELDS)).equals(expected)
    finally:
        payload.SLICE = original


_JSON = st.recursive(
    _VALUES | st.integers(-(2**70), 2**70) | st.sampled_from(['a"b', "a\\b", "é", "\u2028", 1e16, -0.0]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["x", "y", "other"]), _JSON, max_size=4),
            st.just([1]),  # not an object: the batch goes to polars whole
        ),
        max_size=8,
    ),
    std_json=st.booleans(),
)
def test_free_form_fields_equal_json_path_match(payloads: list, std_json: bool) -> None:  # type: ignore[type-arg]
    """``free_json`` gives each free-form field exactly as ``str.json_path_match`` does, whatever
    the value (texts polars reformats, floats, escapes, nested values, are asked of polars)."""
    encode = (lambda o: json.dumps(o)) if std_json else (lambda o: msgspec.json.encode(o).decode())
    texts = pl.DataFrame({"payload": [encode(p) for p in payloads] + [None]}, schema={"payload": pl.String})
    expected = texts.select([pl.col("payload").str.json_path_match(f"$.{f}").alias(f) for f in "xy"])
    got = texts.select(freeform.free_json(pl.col("payload"), ["x", "y"]).alias("t")).unnest("t")
    assert got.equals(expected)


@given(ids=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=8))
def test_repeated_ids_are_found_whatever_their_order(ids: list[str]) -> None:
    """``has_repeats`` answers sorted ids from neighbours and others by counting: both agree
    with the plain definition (the chunk reader dedupes only when it says so)."""
    assert has_repeats(pl.Series(ids, dtype=pl.String)) == (len(set(ids)) < len(ids))
    assert has_repeats(pl.Series(sorted(ids), dtype=pl.String)) == (len(set(ids)) < len(ids))


def test_rebuild_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l", settings=LogSettings(auto_maintain=False))
    for i in range(3):
        ledger.append([ev.ArtifactRegistered(name=f"a{i}", uri=f"a/{i}")])
    assert gc.isenabled()
    states, count = rebuild.rebuild(ledger, ["artifacts"], ledger.version, chunk_events=1)
    assert count == 3 and states["artifacts"]["registered"].height == 3
    assert gc.isenabled()
    gc.disable()
    try:
        rebuild.rebuild(ledger, ["artifacts"], ledger.version, chunk_events=1)
        assert not gc.isenabled()  # a caller that paused it keeps it paused
    finally:
        gc.enable()
