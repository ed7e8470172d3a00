"""Importers: bring the history another tracking system kept into the ledger, once."""
