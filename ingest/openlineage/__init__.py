"""OpenLineage in: RunEvents, DatasetEvents and JobEvents mapped to lakeledger events, raw kept whole.

``parse(body, source)`` validates and maps; ``import_into(ledger, body, source)`` also appends.
The server's ``POST /api/v1/lineage`` and ``lakeledger lineage import`` both use them.
"""

from .receive import import_into, parse

__all__ = ["import_into", "parse"]
