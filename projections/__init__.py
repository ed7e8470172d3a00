"""lakeledger.projections: views rebuilt from events alone.

Each view is a pure function ``events -> polars.DataFrame`` over a mergeable per-key state
(``engine/state.py``), materialised as a Delta table under ``<root>/views/<name>`` and refreshed
incrementally (``engine/materialise.py``). Each view is declared in its own module under ``views/``;
``registry`` lists them. ``api.view`` / ``api.check`` are the entry points, ``gate`` the integrity gate.
"""

from lakeledger.projections.api import check, refresh, view
from lakeledger.projections.gate import Problem, Report
from lakeledger.projections.registry import VIEWS

__all__ = ["VIEWS", "Problem", "Report", "check", "refresh", "view"]
