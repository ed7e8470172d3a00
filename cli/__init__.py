"""lakeledger.cli: the ``lakeledger`` command (``main.py``; one module per command group)."""
