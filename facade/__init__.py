"""lakeledger: the convenience facade over the layers.

``lakeledger.store.Ledger`` writes and reads events and knows nothing above the store. This
``Ledger`` adds what needs the upper layers: views and the gate (``lakeledger.projections``) and
declarative stages (``lakeledger.ingest.stages``). Import it as ``from lakeledger import Ledger``.
It loads on first use, so ``import lakeledger`` (and the CLI's start) stays free of the data
libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeledger.store.identity import VERSION as __version__

if TYPE_CHECKING:
    from lakeledger.ledger import Ledger


def __getattr__(name: str) -> Any:
    if name == "Ledger":
        from lakeledger.ledger import Ledger

        globals()["Ledger"] = Ledger
        return Ledger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Ledger", "__version__"]
