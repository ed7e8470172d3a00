"""lakeledger.ingest: the producers, one subpackage per way data reaches the ledger.

- ``extract``: sources (CSV, HTTP/GitHub, SQL) -> validated records -> bronze exactly once,
  rejected records to quarantine, progress as ``ingest.checkpoint`` events;
- ``watch``: partitions landing in a directory -> ``partition.observed`` events;
- ``checks``: data-quality checks -> ``validation.recorded`` events;
- ``stages``: declarative pipeline stages -> artifacts with lineage and coverage.
"""
