"""Which paths under a landing directory are data: finished data files and Delta tables, not
hidden, temporary or in-progress names. Which *partition* a path holds is the store's partition
codec (``lakeledger.store.partitions.partition_of``), shared with every producer and the views.
"""

from __future__ import annotations

DATA_SUFFIXES = (".parquet", ".parq", ".pq", ".csv")
DELTA_LOG = "_delta_log"

# Names writers use while a file is not finished yet (browsers, rsync, Spark, Hadoop, editors).
_TEMP_SUFFIXES = (
    "~", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".inprogress",
    ".filepart", ".swp", ".swx", ".lock", ".copying", ".uploading",
)


def is_hidden_or_temp(name: str) -> bool:
    """True for names no finished data file has: hidden, ``_``-prefixed or temporary."""
    lower = name.lower()
    return name.startswith((".", "_")) or lower.endswith(_TEMP_SUFFIXES)


def is_data_file(name: str) -> bool:
    return not is_hidden_or_temp(name) and name.lower().endswith(DATA_SUFFIXES)


def ignored_dir(name: str) -> bool:
    """Directories whose content is never data on its own (``_temporary``, ``.staging``...)."""
    return name.startswith((".", "_"))
