"""The landing-directory watcher: which paths are units (``landing``, ``layout``), what a file holds
(``fileinfo``, ``schema``), what the ledger already knows (``state``), and the loop (``watcher``)."""
