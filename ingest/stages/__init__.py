"""Declarative stages: ``@stage(ledger, name, inputs=..., output=..., config=...)``.

``stage`` declares and runs, ``io`` resolves inputs and writes outputs, ``coverage`` turns
partitioned outputs into coverage events, ``freshness`` decides whether a run is needed.
"""

from lakeledger.ingest.stages.coverage import Partitioning
from lakeledger.ingest.stages.stage import Stage, stage

__all__ = ["Partitioning", "Stage", "stage"]
