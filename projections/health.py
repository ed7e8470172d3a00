"""Are the materialised views what a full rebuild would give? (``lakeledger doctor``)

Each stored view is compared, part by part in canonical row order, with the state rebuilt
from every event up to the version it says it reflects. A difference means an incremental
refresh went wrong (or the view table was touched by hand); rebuilding it is the fix.
"""

from __future__ import annotations

import polars as pl
from lakeledger.projections import registry
from lakeledger.projections.engine import materialise
from lakeledger.projections.engine.rebuild import rebuild
from lakeledger.projections.engine.state import sort_state
from lakeledger.store import Ledger
from lakeledger.store.health import Finding


def examine_views(ledger: Ledger) -> list[Finding]:
    findings: list[Finding] = []
    for name, view in registry.VIEWS.items():
        check = f"view {name}"
        try:
            stored, through, _ = materialise.load(ledger, name)
            if through == 0:
                findings.append(Finding(check, True, "not materialised yet (built on first read)"))
                continue
            rebuilt = rebuild(ledger, [name], through)[0][name]
        except Exception as exc:  # noqa: BLE001 - an unreadable view table is the finding
            findings.append(
                Finding(
                    check, False, f"cannot be read: {exc}",
                    f"rebuild it: lakeledger rebuild --full {name}",
                )
            )
            continue
        stored, rebuilt = sort_state(stored, view.parts), sort_state(rebuilt, view.parts)
        differ = [
            part.name
            for part in view.parts
            if not _same(stored[part.name], rebuilt[part.name])
        ]
        if differ:
            findings.append(
                Finding(
                    check, False,
                    f"differs from a full rebuild at version {through} (parts: {', '.join(differ)})",
                    f"rebuild it: lakeledger rebuild --full {name}",
                )
            )
        else:
            findings.append(Finding(check, True, f"equals a full rebuild at version {through}"))
    return findings


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return set(a.columns) == set(b.columns) and a.equals(b.select(a.columns))
