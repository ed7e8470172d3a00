"""lakeledger.cli: the ``lakeledger`` command (``main.py``) and one module per command group
under ``commands/``."""
