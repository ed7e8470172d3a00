"""The facade's ``Ledger`` (exported as ``lakeledger.Ledger``, loaded on first use).

``lakeledger.store.Ledger`` writes and reads events and knows nothing above the store. This
``Ledger`` adds what needs the upper layers: views and the gate (``lakeledger.projections``) and
declarative stages (``lakeledger.ingest.stages``). Import it as ``from lakeledger import Ledger``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lakeledger.store import Ledger as StoreLedger
from lakeledger.store.query import AsOf

if TYPE_CHECKING:
    import polars as pl
    from lakeledger.projections.gate import Report


class Ledger(StoreLedger):
    """The store's ``Ledger`` plus views, the integrity gate and declarative stages."""

    def stage(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Declare a pipeline stage: ``@ledger.stage("features", inputs=[...], output=Schema,
        config=Config)``; see ``lakeledger.ingest.stages``."""
        from lakeledger.ingest.stages import stage

        return stage(self, name, **options)

    def view(self, name: str, as_of: AsOf = None) -> pl.DataFrame:
        """A view (artifacts, models, runs, coverage, staleness, validations): now (materialised,
        refreshed incrementally first) or as of a version / ISO time."""
        from lakeledger.projections.api import view

        return view(self, name, as_of)

    def search(
        self,
        view: str = "runs",
        filter: str | None = None,
        *,
        order_by: str | list[str] | None = None,
        limit: int | None = None,
        columns: str | list[str] | None = None,
        as_of: AsOf = None,
    ) -> pl.DataFrame:
        """Rows of a view passing a filter in MLflow's search syntax, plus OR and parentheses:
        ``ledger.search("runs", "metrics.auc > 0.9 and params.lr = '0.05'",
        order_by="metrics.auc DESC", limit=10)``; see ``lakeledger.projections.search``."""
        from lakeledger.projections.api import search

        return search(
            self, view, filter, order_by=order_by, limit=limit, columns=columns, as_of=as_of
        )

    def search_runs(self, filter: str | None = None, **options: Any) -> pl.DataFrame:
        """``search("runs", ...)``."""
        return self.search("runs", filter, **options)

    def metric_history(
        self, run_id: str, key: str | None = None, as_of: AsOf = None
    ) -> pl.DataFrame:
        """Every point a run logged for a metric: key, step, value, occurred_at, recorded_at,
        version, in the order they were logged (every key when ``key`` is None)."""
        from lakeledger.projections.api import metric_history

        return metric_history(self, run_id, key, as_of)

    def check(self, as_of: AsOf = None) -> Report:
        """The integrity gate: ``Report.ok``; ``Report.problems`` lists what is wrong."""
        from lakeledger.projections.api import check

        return check(self, as_of)
