"""Staleness: one status per (not retired) artifact, with the reason.

The status is the one lineage rule, ``lakeledger.store.lineage.decide`` (also behind
``Stage.freshness`` and the gate); this view gathers its facts from the events plus what the
caller supplies from storage in the ``Context``: ``missing`` (artifact files gone),
``corrupted`` (copies in lakeledger's artifact store that fail their sha256: status
``corrupted``, after ``missing``) and ``versions`` (the current version of every pinned input,
``store/versions.py``). So a Delta input
that got new data outside the ledger makes an artifact stale here exactly as it does for the
stage. Without supplied versions (a view as of a past moment) pinned inputs are judged by the log
(registered or observed again after the artifact), as unpinned ones always are:
``artifact/NAME``, ``dataset/NAME``, ``dataset/NAME/PARTITION`` or a bare name (an artifact or a
dataset of that name). ``orphaned``: no config or dataset of its name is declared, its
``config_hash`` is no declared config's hash and no run logged it.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections.engine.payload import rows
from lakeledger.projections.engine.state import Context, Part, State, prepare, reduce
from lakeledger.projections.views.artifacts import KINDS as ARTIFACT_KINDS
from lakeledger.projections.views.artifacts import PARTS as ARTIFACT_PARTS
from lakeledger.store import events as ev
from lakeledger.store.lineage import Facts, Input, decide_all, parse_ref, split_dataset

KINDS = (*ARTIFACT_KINDS, "config.declared", "dataset.declared", "partition.observed")


def _configs(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.ConfigDeclared, ["name", "config_hash"])


def _observed(events: pl.LazyFrame) -> pl.LazyFrame:
    return rows(events, ev.PartitionObserved, ["dataset", "partition"])


PARTS = (
    *ARTIFACT_PARTS,
    Part(
        "configs",
        ("name",),
        {"latest_hash": ("last", "config_hash"), "config_pos": ("last", "pos")},
        _configs,
    ),
    Part("hashes", ("config_hash",), {"declarations": ("count", None)}, _configs),
    Part(
        "datasets",
        ("dataset",),
        {"declarations": ("count", None)},
        lambda e: rows(e, ev.DatasetDeclared, ["dataset"]),
    ),
    Part("dataset_obs", ("dataset",), {"observed_pos": ("last", "pos")}, _observed),
    Part("partition_obs", ("dataset", "partition"), {"observed_pos": ("last", "pos")}, _observed),
)

COLUMNS = ["name", "status", "reason", "uri", "config_hash", "registered_at"]


def uris(state: State) -> list[str]:
    """The uris whose existence the view depends on (latest of every live artifact)."""
    return present_artifacts(state)["uri"].drop_nulls().unique().sort().to_list()


def present_artifacts(state: State) -> pl.DataFrame:
    return (
        state["registered"]
        .lazy()
        .join(state["retired"].lazy(), on="name", how="left")
        .filter(pl.col("retired_pos").fill_null(-1) < pl.col("registered_pos"))
        .collect()
    )


def facts(state: State, ctx: Context, live: pl.DataFrame | None = None) -> dict[str, Facts]:
    """The lineage facts of every live artifact, from the state and the supplied facts."""
    live = present_artifacts(state) if live is None else live
    art_pos = dict(zip(state["registered"]["name"], state["registered"]["registered_pos"], strict=True))
    declared = dict(zip(state["configs"]["name"], state["configs"]["latest_hash"], strict=True))
    hashes = set(state["hashes"]["config_hash"].drop_nulls())
    datasets = set(state["datasets"]["dataset"])
    ds_pos = dict(zip(state["dataset_obs"]["dataset"], state["dataset_obs"]["observed_pos"], strict=True))
    obs = state["partition_obs"]
    part_pos = dict(zip(zip(obs["dataset"], obs["partition"], strict=True), obs["observed_pos"], strict=True))
    known = datasets | set(ds_pos)
    content = dict(zip(live["name"], live["content_hash"], strict=True))
    out: dict[str, Facts] = {}
    columns = ("name", "uri", "config_hash", "registered_pos", "inputs", "run_id")
    for name, uri, config, at, texts, run_id in zip(*(live[c].to_list() for c in columns), strict=True):
        inputs = []
        for text in texts or []:
            ref = parse_ref(text, strict=False)
            upstream = ref.name if ref.scope != "dataset" and ref.name in content else None
            if ref.scope == "dataset":
                dataset, partition = split_dataset(ref.name, known)
                later = part_pos.get((dataset, partition)) if partition else ds_pos.get(dataset)
            elif ref.scope == "artifact":
                later = art_pos.get(ref.name)
            else:
                later = max(art_pos.get(ref.name) or -1, ds_pos.get(ref.name) or -1)
            changed = (later if later is not None else -1) > at
            current, gone = None, False
            if ref.pin is not None and ref.name in ctx.versions:
                pin = ctx.versions[ref.name]
                current, gone = (ref.pinned(pin) if pin else None), pin is None
            elif ref.pin is not None and ref.pin.startswith("sha256:") and content.get(ref.name):
                current = ref.pinned(f"sha256:{content[ref.name]}")
            inputs.append(Input(text, current, changed, gone, upstream))
        # a run that logged it owns it too (MLflow's model: the run's params are its provenance)
        owned = name in declared or name in datasets or config in hashes or run_id is not None
        out[name] = Facts(name, uri, config, declared.get(name), owned, uri in ctx.missing, tuple(inputs))
    return out


def pinned_inputs(state: State) -> dict[str, tuple[str | None, str | None]]:
    """Every pinned input's name -> (uri, content hash) of its live artifact (or Nones): what
    the caller resolves to current versions for ``Context.versions``."""
    live = present_artifacts(state)
    arts = {r["name"]: (r["uri"], r["content_hash"]) for r in live.iter_rows(named=True)}
    out: dict[str, tuple[str | None, str | None]] = {}
    for inputs in live["inputs"].drop_nulls():
        for text in inputs:
            ref = parse_ref(text, strict=False)
            if ref.pin is not None and ref.scope != "dataset":
                out[ref.name] = arts.get(ref.name, (None, None))
    return out


def present(state: State, ctx: Context) -> pl.DataFrame:
    live = present_artifacts(state)
    verdicts = decide_all(facts(state, ctx, live))
    status = pl.DataFrame(
        {
            "name": list(verdicts),
            "status": [v.status for v in verdicts.values()],
            "reason": [v.reason for v in verdicts.values()],
        },
        schema={"name": pl.String, "status": pl.String, "reason": pl.String},
    )
    bad = pl.col("uri").is_in(list(ctx.corrupted)) & (pl.col("status") != "missing")
    return (
        live.join(status, on="name", how="left")
        .with_columns(
            status=pl.when(bad).then(pl.lit("corrupted")).otherwise("status"),
            reason=pl.when(bad).then(pl.format("stored copy {} fails its sha256", "uri")).otherwise("reason"),
        )
        .select(COLUMNS)
        .sort("name")
    )


def staleness(events: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
    """Artifact statuses from events and the facts supplied in ``ctx``."""
    return present(reduce(PARTS, prepare(events)), ctx)
