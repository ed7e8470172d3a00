"""The error of a wrong ingest config, shared by the config decoder and the source kinds."""

from __future__ import annotations

from lakeledger.store.errors import InvalidInput


class ConfigError(InvalidInput):
    """The ingest config is wrong; the message names the file and the key path."""
