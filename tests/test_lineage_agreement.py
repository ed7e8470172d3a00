"""Stage freshness, the staleness view and the gate give one answer (a hypothesis property over
input changes inside the ledger — re-runs, configs — and outside it — a Delta table written by
someone else, deleted outputs). On the landed code the view and the gate said fresh when the
stage said stale (issue 10)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.ingest.stages import stage
from lakeledger.projections.api import check, view
from lakeledger.store import HashableConfig, Ledger
from lakeledger.store.errors import InvalidInput


class Cfg(HashableConfig):
    scale: int = 1


ACTIONS = st.lists(
    st.sampled_from(["external_append", "run_a", "run_b", "config_a", "config_b", "force_a",
                     "delete_a", "delete_b", "touch_external"]),
    min_size=1, max_size=5,
)


class Pipeline:
    """raw/clicks (a Delta table outside the ledger) -> a (Delta stage) -> b (Parquet stage)."""

    def __init__(self, root: Path) -> None:
        self.ledger = Ledger.open(root)
        self.cfg = {"a": Cfg(), "b": Cfg()}
        self.rows = 4
        self.clicks(4, "overwrite")

        @stage(self.ledger, "a", inputs=["raw/clicks"], config=Cfg)
        def a(clicks: pl.LazyFrame, cfg: Cfg) -> pl.LazyFrame:
            return clicks.group_by("user").agg((pl.col("n").sum() * cfg.scale).alias("n")).sort("user")

        @stage(self.ledger, "b", inputs=["a"], config=Cfg, format="parquet")
        def b(per_user: pl.LazyFrame, cfg: Cfg) -> pl.LazyFrame:
            return per_user.with_columns(top=pl.col("n") * cfg.scale)

        self.stages = {"a": a, "b": b}
        self.seen: set[str] = set()  # statuses met, so a run can show it was not vacuous

    def clicks(self, n: int, mode: str) -> None:
        frame = pl.DataFrame({"user": [f"u{i % 3}" for i in range(n)], "n": list(range(n))})
        frame.write_delta(self.ledger.location.join("raw", "clicks"), mode=mode)  # type: ignore[arg-type]

    def apply(self, action: str) -> None:
        name = action[-1]
        if action == "external_append":
            self.clicks(2, "append")
        elif action == "touch_external":  # a new version with the same rows: still a new version
            self.clicks(self.rows, "overwrite")
        elif action.startswith("config_"):
            self.cfg[name] = Cfg(scale=self.cfg[name].scale + 1)
            self.stages[name].declare(self.cfg[name])
        elif action.startswith(("run_", "force_")):
            with contextlib.suppress(InvalidInput):  # an input is gone: nothing was written
                self.stages[name](self.cfg[name], force=action.startswith("force_"))
        elif action.startswith("delete_"):
            shutil.rmtree(self.ledger.location.join("stages", name), ignore_errors=True)

    def agree(self) -> None:
        table = view(self.ledger, "staleness")
        shown = dict(zip(table["name"], table["status"], strict=True))
        self.seen.update(shown.values())
        problems = {p.subject for p in check(self.ledger).problems if p.view == "staleness"}
        for name, s in self.stages.items():
            if name not in shown:
                assert s.freshness(self.cfg[name]).reasons == ["never built"]
                continue
            try:
                state = s.freshness(self.cfg[name])
            except InvalidInput:  # an input is gone: the stage cannot even resolve it
                assert shown[name] in ("stale", "missing"), name
                continue
            assert state.status == shown[name], (name, state, table.to_dicts())
            assert (name in problems) == (shown[name] != "fresh"), (name, problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_stage_view_and_gate_agree(actions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(Path(tmp) / "ledger")
        pipeline.apply("run_a")
        pipeline.apply("run_b")
        pipeline.agree()
        for action in actions:
            pipeline.apply(action)
            pipeline.agree()


def test_agreement_is_not_vacuous(tmp_path: Path) -> None:
    """One fixed history meets every status, with stage, view and gate agreeing at each step."""
    pipeline = Pipeline(tmp_path / "ledger")
    for action in ["run_a", "run_b", "external_append", "run_a", "config_b", "delete_a", "run_a",
                   "run_b", "touch_external", "delete_b"]:
        pipeline.apply(action)
        pipeline.agree()
    assert pipeline.seen == {"fresh", "stale", "missing"}
