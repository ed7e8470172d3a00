"""Extraction: sources read batches (``sources``), records are checked (``records``), batches are
committed to bronze exactly once (``bronze``), rejects go to quarantine (``quarantine``), and
``runner`` ties it together with checkpoints; ``config`` decodes ``sources.toml``."""
