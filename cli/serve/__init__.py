"""The lakeledger HTTP server (``lakeledger serve``): append, OpenLineage, read and subscribe APIs."""

DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes; here so `lakeledger --help` need not import Starlette
