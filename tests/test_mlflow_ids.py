"""Ids of imported MLflow metric points: computed in bulk (``metric_ids``), they are exactly
``metric_id`` of each point, and stay what earlier versions derived (a second import of the
same store adds nothing, whichever lakeledger version made the first)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.importers import mlflow_ids as mlflow_importer
from lakeledger.ingest.importers.mlflow_ids import _as_uuid, metric_id
from lakeledger.ingest.importers.mlflow_ids import metric_ids as _metric_ids

points = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "run é"]),
        st.sampled_from(["loss", "auc", "k\x1f,"]),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(1, 5),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(points=points, cut=st.integers(0, 40))
def test_bulk_ids_equal_one_by_one(points: list[tuple], cut: int) -> None:
    columns = ["run_id", "key", "step", "timestamp", "value", "occurrence"]
    frame = pl.DataFrame(points, schema=dict(zip(columns, [pl.String, pl.String, pl.Int64, pl.Int64,
                                                           pl.Float64, pl.Int64], strict=True)), orient="row")
    frame = frame.sort("run_id", "key", maintain_order=True)
    # chunked and offset columns (as slices and concatenations give them) read the same
    frame = pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)
    want = [metric_id(*row) for row in frame.select(columns).iter_rows()]
    assert _metric_ids(frame).to_list() == want


def test_ids_stay_what_earlier_versions_derived() -> None:
    """Pinned values: a changed derivation would import every point a second time."""
    assert metric_id("r1", "loss", 3, 1_700_000_000_000, 0.5, 1) == "1fba6f14-87ee-8e46-914d-fe3d7113e5af"


@settings(max_examples=100, deadline=None)
@given(digests=st.lists(st.binary(min_size=20, max_size=20), max_size=30))
def test_uuid_texts_with_and_without_numpy(digests: list[bytes]) -> None:
    """Both layouts of the ids' text (numpy's, polars' where numpy is missing) are ``_as_uuid``'s."""
    want = [_as_uuid(d.hex()) for d in digests]
    assert mlflow_importer._uuid_texts(digests).to_list() == want
    numpy, mlflow_importer.np = mlflow_importer.np, None
    try:
        assert mlflow_importer._uuid_texts(digests).to_list() == want
    finally:
        mlflow_importer.np = numpy
