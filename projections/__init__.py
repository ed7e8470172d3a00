"""lakeledger.projections: views rebuilt from events alone.

Each view is a pure function ``events -> polars.DataFrame`` over a mergeable per-key state
(``state.py``), materialised as a Delta table under ``<root>/views/<name>`` and refreshed
incrementally (``materialise.py``). ``api.view`` / ``api.check`` are the entry points.
"""

from .api import check, refresh, view
from .check import Problem, Report
from .registry import VIEWS

__all__ = ["VIEWS", "Problem", "Report", "check", "refresh", "view"]
