"""Checks that run inside a commit, on the snapshot the commit lands on (what every event
must satisfy on its own is checked before, at the door: ``admission.py``).

Because ``EventLog.commit`` only ever lands at ``snapshot + 1``, what these functions read is
exactly the state the new events follow: version numbers cannot collide, an expected stage
cannot have changed in between, a retried event id cannot be written twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec
import polars as pl

from .errors import ConcurrencyError, InvalidInput
from .events import Event, ModelAliasSet, ModelStageChanged, ModelVersionRegistered
from .log import Snapshot


def dedupe(
    snapshot: Snapshot, events: Sequence[Event], *, check_log: bool
) -> tuple[list[Event], list[str]]:
    """Drop events whose id repeats in the batch or, if ``check_log``, is already logged."""
    seen: set[str] = set()
    unique: list[Event] = []
    skipped: list[str] = []
    for e in events:
        if e.event_id in seen:
            skipped.append(e.event_id)
        else:
            seen.add(e.event_id)
            unique.append(e)
    if check_log and unique:
        state = snapshot.state()
        newest = state.newest_id
        if newest is not None and min(seen) > newest:
            return unique, skipped  # above every id in the log: none can be there
        present = state.present(seen)
        if present is None:  # a file vanished under us: ask the snapshot itself
            present = _scan_ids(snapshot, seen)
        if present:
            skipped.extend(e.event_id for e in unique if e.event_id in present)
            unique = [e for e in unique if e.event_id not in present]
    return unique, skipped


def _scan_ids(snapshot: Snapshot, ids: set[str]) -> set[str]:
    if snapshot.table.version() == 0:
        return set()
    found = snapshot.scan().filter(pl.col("event_id").is_in(list(ids))).select("event_id").collect()
    return set(found["event_id"].to_list())


def model_state(snapshot: Snapshot, models: Iterable[str]) -> dict[str, dict[int, str]]:
    """Current stage of every version of the given models: ``{model: {version: stage}}``
    (a copy: the rules below change it while checking a batch)."""
    names = set(models)
    state = snapshot.state(names)
    return {m: dict(state.models[m]) for m in names}


def apply_model_rules(snapshot: Snapshot, events: Sequence[Event]) -> list[Event]:
    """Assign model versions, fill/verify ``previous_stage``, check alias targets."""
    models = {
        e.model
        for e in events
        if isinstance(e, ModelVersionRegistered | ModelStageChanged | ModelAliasSet)
    }
    if not models:
        return list(events)
    state = model_state(snapshot, models)
    out: list[Event] = []
    for e in events:
        if isinstance(e, ModelVersionRegistered):
            versions = state[e.model]
            following = max(versions, default=0) + 1
            if e.version == 0:
                e = msgspec.structs.replace(e, version=following)
            elif e.version in versions:
                raise ConcurrencyError(
                    f"model {e.model!r} version {e.version} is already registered; omit the "
                    "version to have the next one assigned",
                    field="version",
                    value=e.version,
                )
            elif e.version != following:
                raise InvalidInput(
                    f"model {e.model!r} version {e.version} would skip versions: the next one "
                    f"is {following}",
                    field="version",
                    value=e.version,
                    fix="omit the version: the store assigns the next one",
                )
            versions[e.version] = "None"
        elif isinstance(e, ModelStageChanged):
            current = _existing(state, e.model, e.version)
            if e.previous_stage is None:
                e = msgspec.structs.replace(e, previous_stage=current)  # type: ignore[arg-type]
            elif e.previous_stage != current:
                raise ConcurrencyError(
                    f"model {e.model!r} version {e.version} is in stage {current!r}, not "
                    f"{e.previous_stage!r} as expected: someone changed it meanwhile; re-read "
                    "the registry and decide again"
                )
            state[e.model][e.version] = e.stage
        elif isinstance(e, ModelAliasSet):
            _existing(state, e.model, e.version)
        out.append(e)
    return out


def _existing(state: dict[str, dict[int, str]], model: str, version: int) -> str:
    try:
        return state[model][version]
    except KeyError:
        known = sorted(state.get(model, {}))
        raise InvalidInput(
            f"model {model!r} has no version {version} (registered: {known or 'none'}); "
            "register it first with register_model_version"
        ) from None
