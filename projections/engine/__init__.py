"""The machinery every view shares: event-row decoding (``payload``), mergeable per-key state
(``state``), materialisation as Delta tables (``materialise``), facts from outside the log
(``world``) and period arithmetic for coverage (``periods``)."""
