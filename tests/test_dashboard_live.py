"""The dashboard's live states: a state loaded once and advanced commit by commit is the state a
fresh load of the same version gives (any split of the log, any mix of event kinds)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.cli.serve.dashboard.live import TIDY_CHUNKS, Live, from_events, view_loader
from lakeledger.projections import api, registry
from lakeledger.projections.engine.state import Part, sort_state
from lakeledger.store import Ledger
from lakeledger.store import events as ev

VIEWS = ("runs", "coverage", "models")


def _events(step: int, choice: int, run_ids: list[str], models: list[int]) -> list[ev.Event]:
    """One small commit of a realistic kind mix (runs, metrics, partitions, models...)."""
    if choice == 0 or not run_ids:
        run = ev.RunStarted(job="train", params={"lr": step % 3})
        run_ids.append(run.run_id)
        return [run, ev.MetricLogged(run_id=run.run_id, key="loss", value=1.0 / (step + 1), step=0)]
    run_id = run_ids[step % len(run_ids)]
    if choice == 1:
        return [ev.MetricLogged(run_id=run_id, key=k, value=float(step), step=step) for k in ("loss", "auc")]
    if choice == 2:
        return [ev.RunFinished(run_id=run_id, status="failed" if step % 2 else "success")]
    if choice == 3:
        return [ev.PartitionObserved(dataset="sales", partition=f"date=2025-03-{1 + step % 9:02d}",
                                     rows=step, bytes=10 * step)]
    if choice == 4:
        return [ev.PartitionRemoved(dataset="sales", partition=f"date=2025-03-{1 + step % 9:02d}")]
    if choice == 5:
        version = len(models) + 1
        models.append(version)
        return [ev.ModelVersionRegistered(model="churn", version=version, run_id=run_id),
                ev.ModelStageChanged(model="churn", version=version, stage="Production")]
    return [ev.ParamLogged(run_id=run_id, key="seed", value=step), ev.TagSet(run_id=run_id, key="t", value="x")]


def _same(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame], parts: tuple[Part, ...]) -> None:
    a, b = sort_state(left, parts), sort_state(right, parts)
    for part in parts:
        assert a[part.name].equals(b[part.name]), part.name


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 6), min_size=2, max_size=10), st.integers(1, 4))
def test_a_state_advanced_commit_by_commit_equals_a_fresh_load(
    tmp_path_factory, kinds: list[int], first: int
) -> None:
    root = tmp_path_factory.mktemp("live") / "ledger"
    run_ids: list[str] = []
    models: list[int] = []
    with Ledger.open(root) as ledger:
        ledger.declare_dataset("sales", freq="D", start="2025-03-01")
        lives = {n: Live(registry.get(n).parts, view_loader(n)) for n in VIEWS}
        for step, choice in enumerate(kinds):
            ledger.append(_events(step, choice, run_ids, models))
            if step + 1 < min(first, len(kinds)):
                continue  # the first load happens after a few commits
            version = ledger.version
            for name, live in lives.items():
                fresh, _ = api.state_of(ledger, name, version)
                _same(live.state(ledger, version), fresh, live.parts)
                if step % 2:  # copying parts into one chunk (the warmer does it) changes no row
                    live.compact()
                    assert all(f.n_chunks() <= TIDY_CHUNKS for f in live.state(ledger, version).values())
                    _same(live.state(ledger, version), fresh, live.parts)
            # restricting to some runs through the kept hashes: the same rows as filtering
            some = pl.Series(run_ids[::2], dtype=pl.String)
            fresh_runs, _ = api.state_of(ledger, "runs", version)
            narrowed = {
                p.name: fresh_runs[p.name].filter(pl.col(p.keys[0]).is_in(some.implode()))
                for p in lives["runs"].parts
            }
            _same(lives["runs"].only(ledger, version, some.to_list()), narrowed, lives["runs"].parts)


def test_a_fold_loaded_from_the_events_advances_too(tmp_path: Path) -> None:
    parts = registry.get("coverage").parts
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.declare_dataset("sales", freq="D", start="2025-03-01")
        live = Live(parts, from_events(parts, registry.get("coverage").kinds))
        first = live.state(ledger, ledger.version)
        assert first["partitions"].height == 0
        ledger.observe_partition("sales", "date=2025-03-01", rows=1)
        ledger.observe_partition("sales", "date=2025-03-02", rows=2)
        ledger.remove_partition("sales", "date=2025-03-01")
        now = live.state(ledger, ledger.version)
        rows = dict(now["partitions"].select("partition", "present").iter_rows())
        assert rows == {"date=2025-03-01": False, "date=2025-03-02": True}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 6), min_size=2, max_size=8))
def test_a_first_load_of_a_table_of_several_fragments_equals_the_view(tmp_path_factory, kinds: list[int]) -> None:
    """The loader merges the view table's later fragments (one per refresh) into the first one
    on the keys they touch: the same state as ``materialise.load``'s merge of every row."""
    from lakeledger.projections.engine import materialise

    root = tmp_path_factory.mktemp("fragments") / "ledger"
    run_ids: list[str] = []
    models: list[int] = []
    with Ledger.open(root) as ledger:
        ledger.declare_dataset("sales", freq="D", start="2025-03-01")
        for step, choice in enumerate(kinds):
            ledger.append(_events(step, choice, run_ids, models))
            materialise.refresh(ledger, list(VIEWS))  # one more fragment per view
        for name in VIEWS:
            loaded, through = view_loader(name)(ledger)
            stored, stored_through, fragments = materialise.load(ledger, name)
            assert through == stored_through == ledger.version and fragments == len(kinds)
            parts = registry.get(name).parts
            _same({p.name: loaded[p.name].drop("_h") for p in parts}, stored, parts)


def test_changed_moves_exactly_with_a_keys_rows(tmp_path: Path) -> None:
    """``Live.changed`` (the coverage page's per-dataset fingerprint): the same value while a
    dataset's rows stay, a new one when they change, and nothing for a key changed after the
    version asked about (a caller holding the older state then compares rows itself)."""
    parts = registry.get("coverage").parts
    with Ledger.open(tmp_path / "ledger") as ledger:
        for name in ("sales", "stock"):
            ledger.declare_dataset(name, freq="D", start="2025-03-01")
        live = Live(parts, view_loader("coverage"))
        first = live.changed(ledger, ledger.version, ["sales", "stock"])
        assert set(first) == {"sales", "stock"}
        ledger.observe_partition("sales", "date=2025-03-01", rows=1)
        before = ledger.version
        again = live.changed(ledger, before, ["sales", "stock"])
        assert again["stock"] == first["stock"] and again["sales"] != first["sales"]
        ledger.observe_partition("stock", "date=2025-03-01", rows=1)
        live.state(ledger, ledger.version)  # another reader brings the state further
        late = live.changed(ledger, before, ["sales", "stock"])
        assert late == {"sales": again["sales"]}
        assert live.changed(ledger, ledger.version, ["stock"])["stock"] != first["stock"]
