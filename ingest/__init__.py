"""lakeledger.ingest: the producers. Extractors and the bronze writer (``runner``, ``sources``),
the landing-directory watcher (``watcher``), checks (``checks``) and declarative stages (``stages``)."""
