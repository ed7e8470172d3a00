"""Incremental refresh equals full rebuild: pure state merging (hypothesis) and the real
materialised Delta views, including duplicate event ids written by a foreign writer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.projections import api, registry
from lakeledger.projections.engine import materialise, publish, tables
from lakeledger.projections.engine.state import Context, combine, reduce, sort_state
from lakeledger.store import Ledger, codec
from lakeledger.store import events as ev
from lakeledger.store.identity import Writer

from tests.projections_fixtures import T0, log_frame

NAMES = st.sampled_from(["a", "b", "c"])
RUNS = st.sampled_from(["r1", "r2"])
PARTS = st.sampled_from(["date=2025-03-01", "date=2025-03-02", "region=eu/date=2025-03-03"])


def _event() -> st.SearchStrategy[ev.Event]:
    return st.one_of(
        st.builds(
            lambda n, h: ev.ArtifactRegistered(
                name=n, uri=f"x/{n}", config_hash=h, inputs=["dataset/d", f"artifact/{n}x"]
            ),
            NAMES,
            st.sampled_from([None, "h1", "h2"]),
        ),
        st.builds(lambda n: ev.ArtifactRetired(name=n), NAMES),
        st.builds(
            lambda n, h: ev.ConfigDeclared(name=n, config_hash=h),
            NAMES,
            st.sampled_from(["h1", "h2"]),
        ),
        st.builds(
            lambda v, s: ev.ModelVersionRegistered(model="m", version=v, metrics={"auc": 0.5}),
            st.integers(1, 3),
            st.none(),
        ),
        st.builds(
            lambda v, s: ev.ModelStageChanged(model="m", version=v, stage=s),
            st.integers(1, 3),
            st.sampled_from(["Staging", "Production", "Archived"]),
        ),
        st.builds(
            lambda v, a: ev.ModelAliasSet(model="m", alias=a, version=v),
            st.integers(1, 3),
            st.sampled_from(["champ", "base"]),
        ),
        st.builds(lambda r: ev.RunStarted(run_id=r, job="j", params={"p": 1}), RUNS),
        st.builds(
            lambda r, k, v: ev.MetricLogged(run_id=r, key=k, value=v, step=1),
            RUNS,
            st.sampled_from(["loss", "acc"]),
            st.floats(-5, 5),
        ),
        st.builds(lambda r, v: ev.ParamLogged(run_id=r, key="p", value=v), RUNS, st.integers(0, 3)),
        st.builds(
            lambda r, v: ev.TagSet(run_id=r, key="t", value=v), RUNS, st.sampled_from(["x", "y"])
        ),
        st.builds(
            lambda r, s: ev.RunFinished(run_id=r, status=s),
            RUNS,
            st.sampled_from(["success", "failed"]),
        ),
        st.builds(
            lambda f: ev.DatasetDeclared(
                dataset="d",
                freq=f,
                start="2025-03-01",
                end="2025-03-04",
                partition_key=["region", "date"],
            ),
            st.sampled_from(["D", "W"]),
        ),
        st.builds(lambda p: ev.PartitionObserved(dataset="d", partition=p), PARTS),
        st.builds(lambda p: ev.PartitionRemoved(dataset="d", partition=p), PARTS),
        st.builds(
            lambda c, p, s: ev.ValidationRecorded(target="d", check=c, passed=p, severity=s),
            st.sampled_from(["rows", "nulls"]),
            st.booleans(),
            st.sampled_from(["error", "warning"]),
        ),
    )


COMMITS = st.lists(st.lists(_event(), min_size=1, max_size=4), min_size=1, max_size=12)
CTX = Context(now=T0 + timedelta(days=3), missing=frozenset({"x/a"}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commits=COMMITS, cuts=st.lists(st.integers(0, 12), max_size=3))
def test_incremental_merge_equals_full_rebuild(
    commits: list[list[ev.Event]], cuts: list[int]
) -> None:
    log = log_frame(commits)
    bounds = sorted({0, *[min(c, len(commits)) for c in cuts], len(commits)})
    for view in registry.VIEWS.values():
        full = reduce(view.parts, log)
        state = reduce(view.parts, log.filter(pl.col("version") <= 0))
        for lo, hi in itertools.pairwise(bounds):
            piece = log.filter((pl.col("version") > lo) & (pl.col("version") <= hi))
            state = combine(view.parts, state, reduce(view.parts, piece))
        merged, rebuilt = sort_state(state, view.parts), sort_state(full, view.parts)
        for part in view.parts:
            assert merged[part.name].equals(rebuilt[part.name]), (view.name, part.name)
        assert view.present(state, CTX).equals(view.present(full, CTX)), view.name
        # reading only the view's kinds (as as-of views do) changes nothing
        narrowed = reduce(view.parts, log.filter(pl.col("kind").is_in(view.kinds)))
        for part in view.parts:
            assert narrowed[part.name].equals(full[part.name]), (view.name, part.name)


def _raw_append(ledger: Ledger, events: list[ev.Event], user: str = "mallory") -> None:
    """Append rows as a foreign Delta writer could: no store invariants, ids not checked."""
    table = ledger.log.refresh()
    data = codec.encode(
        events,
        version=table.version() + 1,
        recorded_at=datetime.now(UTC),
        writer=Writer(user, "elsewhere", 1, "0"),
        batch_id="foreign",
    )
    write_deltalake(table, data, mode="append")


def _foreign_duplicate(ledger: Ledger, event: ev.Event) -> None:
    _raw_append(ledger, [event])


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    commits=st.lists(st.lists(_event(), min_size=1, max_size=3), min_size=2, max_size=6),
    cut=st.integers(1, 5),
)
def test_materialised_refresh_equals_full_rebuild(tmp_path_factory, commits, cut) -> None:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("ledger")
    ledger = Ledger.open(root)
    cut = min(cut, len(commits) - 1)
    for batch in commits[:cut]:
        _raw_append(ledger, batch, "alice")
    materialise.refresh(ledger)
    for batch in commits[cut:]:
        _raw_append(ledger, batch, "alice")
    _foreign_duplicate(ledger, commits[0][0])
    materialise.refresh(ledger)
    incremental = {n: materialise.load(ledger, n)[0] for n in registry.VIEWS}
    materialise.refresh(ledger, full=True)
    for name, view in registry.VIEWS.items():
        full, through, fragments = materialise.load(ledger, name)
        assert through == ledger.version and fragments == 1
        for part in view.parts:
            assert (
                incremental[name][part.name]
                .sort(list(part.keys))
                .equals(full[part.name].sort(list(part.keys)))
            ), (name, part.name)


VIEW_KINDS = sorted({k for view in registry.VIEWS.values() for k in view.kinds})


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    commits=st.lists(st.lists(_event(), min_size=1, max_size=3), min_size=1, max_size=4),
    later=st.lists(st.lists(_event(), min_size=1, max_size=3), min_size=1, max_size=4),
    kinds=st.sets(st.sampled_from(VIEW_KINDS), min_size=1, max_size=3),
)
def test_refresh_after_events_for_only_some_views(tmp_path_factory, commits, later, kinds) -> None:  # type: ignore[no-untyped-def]
    """New events of a few kinds: the views that read none of them reduce nothing, yet every
    view (and its published table) reflects the current version and equals a full rebuild."""
    root: Path = tmp_path_factory.mktemp("ledger")
    ledger = Ledger.open(root)
    for batch in commits:
        _raw_append(ledger, batch, "alice")
    api.refresh(ledger)
    narrowed = [[e for e in batch if e.kind in kinds] for batch in later]
    for batch in narrowed:
        if batch:
            _raw_append(ledger, batch, "alice")
    added = {e.kind for batch in narrowed for e in batch}
    refreshed = {r.view: r for r in api.refresh(ledger)}
    incremental = {n: materialise.load(ledger, n) for n in registry.VIEWS}
    for name, view in registry.VIEWS.items():
        assert refreshed[name].through == ledger.version, name
        if not added & set(view.kinds):
            assert refreshed[name].events == 0, name
        assert incremental[name][1] == ledger.version, name
        assert publish.published_through(ledger, name) == ledger.version, name
        published = pl.read_delta(publish.table_uri(ledger, name))
        assert published["events_version"].unique().to_list() in ([], [ledger.version]), name
    materialise.refresh(ledger, full=True)
    for name, view in registry.VIEWS.items():
        full = materialise.load(ledger, name)[0]
        for part in view.parts:
            assert (
                incremental[name][0][part.name]
                .sort(list(part.keys))
                .equals(full[part.name].sort(list(part.keys)))
            ), (name, part.name)


def test_fragments_are_checkpointed_and_older_tables_still_refresh(tmp_path: Path) -> None:
    """Fragment commits written directly: a checkpoint every ``CHECKPOINT_EVERY`` versions; a
    table whose newest commit carries no marks (an older lakeledger, a hand-made write) is read
    from its data and appended to correctly."""
    ledger = Ledger.open(tmp_path / "l")
    ledger.append([ev.ArtifactRegistered(name="a", uri="a/0")])
    materialise.refresh(ledger, ["artifacts"])
    original = materialise.COMPACT_AFTER
    try:
        materialise.COMPACT_AFTER = 1000
        for i in range(1, tables.CHECKPOINT_EVERY + 2):
            ledger.append([ev.ArtifactRegistered(name="a", uri=f"a/{i}")])
            materialise.refresh(ledger, ["artifacts"])
    finally:
        materialise.COMPACT_AFTER = original
    log_dir = tmp_path / "l" / "views" / "artifacts" / "_delta_log"
    assert any(p.name.endswith(".checkpoint.parquet") for p in log_dir.iterdir())
    _, through, fragments = materialise.load(ledger, "artifacts")
    assert through == ledger.version and fragments == tables.CHECKPOINT_EVERY + 2
    uri = str(tmp_path / "l" / "views" / "artifacts")
    write_deltalake(uri, pl.read_delta(uri).to_arrow(), mode="overwrite")  # no marks in it
    ledger.append([ev.ArtifactRegistered(name="a", uri="a/last")])
    done = materialise.refresh(ledger, ["artifacts"])[0]
    assert not done.full and done.events == 1
    assert materialise.load(ledger, "artifacts")[1:] == (ledger.version, tables.CHECKPOINT_EVERY + 3)
    assert api.view(ledger, "artifacts").row(0, named=True)["versions"] == tables.CHECKPOINT_EVERY + 3


def test_duplicate_event_ids_count_once(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l")
    first = ev.ArtifactRegistered(name="features", uri="f/1")
    ledger.append([first])
    materialise.refresh(ledger)
    _foreign_duplicate(ledger, first)
    _foreign_duplicate(ledger, first)
    refreshed = {r.view: r for r in materialise.refresh(ledger)}
    assert refreshed["artifacts"].events == 0 and refreshed["artifacts"].through == ledger.version
    row = api.view(ledger, "artifacts").row(0, named=True)
    assert row["versions"] == 1 and row["registered_by"] != "mallory"
    assert api.view(ledger, "artifacts", as_of=ledger.version).row(0, named=True)["versions"] == 1
    materialise.refresh(ledger, ["artifacts"], full=True)
    assert api.view(ledger, "artifacts").row(0, named=True)["versions"] == 1


def test_refresh_reads_only_new_events_and_compacts(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l")
    ledger.declare_dataset("sales", start="2025-03-01", end="2025-03-10")
    first = materialise.refresh(ledger, ["coverage"])[0]
    assert first.full
    for day in range(1, 11):
        ledger.observe_partition("sales", f"date=2025-03-{day:02d}")
        done = materialise.refresh(ledger, ["coverage"])[0]
        assert not done.full and done.events == 1 and done.through == ledger.version
    original = materialise.COMPACT_AFTER
    try:
        materialise.COMPACT_AFTER = 3
        ledger.remove_partition("sales", "date=2025-03-04")
        materialise.refresh(ledger, ["coverage"])
    finally:
        materialise.COMPACT_AFTER = original
    assert materialise.load(ledger, "coverage")[2] == 1
    row = api.view(ledger, "coverage").row(0, named=True)
    assert (row["present"], row["missing_periods"]) == (9, ["2025-03-04"])


def test_concurrent_refreshers_do_not_double_count(tmp_path: Path) -> None:
    """Two processes refreshing at once: every event counted exactly once."""
    import multiprocessing as mp

    ledger = Ledger.open(tmp_path / "l")
    ledger.append([ev.ArtifactRegistered(name="a", uri="a/1")])
    materialise.refresh(ledger)
    ledger.append([ev.ArtifactRegistered(name="a", uri=f"a/{i}") for i in range(2, 6)])
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_refresh_in_child, args=(str(tmp_path / "l"),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert api.view(ledger, "artifacts", refresh=False).row(0, named=True)["versions"] == 5


def _refresh_in_child(root: str) -> None:
    materialise.refresh(Ledger.open(root, create=False), ["artifacts"])


def test_view_without_write_access_is_computed_from_events(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l")
    ledger.register_model_version("fraud")
    (tmp_path / "l" / "views").write_text("not a directory: views cannot be stored here")
    assert api.view(ledger, "models").select("model", "version", "stage").rows() == [
        ("fraud", 1, "None")
    ]
