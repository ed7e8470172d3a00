"""Admission: the one check of every event entering the log, whichever door it came through
(``Ledger.append``, the buffered writer behind ``emit`` and ``Run``, the CLI ``append``).

``admit`` makes sure an event reads back as its own type for every reader (the encode/decode
the log does, so no view ever meets a value it cannot decode; plain classes take a compiled
exact-type test instead), that its stream name is usable, its uris cannot escape the root and a
model version it names is positive. ``build`` is the one way to make an event from loose input
(unknown fields are errors, with a suggestion). Errors name the field, the value and the fix.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from .errors import InvalidInput, LedgerError
from .events import (
    KINDS,
    ArtifactRegistered,
    Event,
    MetricLogged,
    ModelAliasSet,
    ModelStageChanged,
    ModelVersionRegistered,
    ParamLogged,
    PartitionObserved,
    PartitionRemoved,
)
from .exacttypes import INT64, exact_check, plainly_valid
from .lineage import parse_ref
from .location import Location, check_relative, check_uri

_ENVELOPE = ("kind", "event_id", "schema_version", "occurred_at")
_AT = re.compile(r" - at `\$\.?([^`]*)`")
_encoder = msgspec.json.Encoder()


def build(cls: type[Event], fields: Mapping[str, Any], *, strict: bool = False) -> Event:
    """An event of ``cls`` from loosely typed input: unknown fields and bad values are errors
    naming the field (``strict=False`` also takes ISO dates as strings, as the API does)."""
    kind = cls.__struct_config__.tag
    allowed = set(cls.__struct_fields__) | {"kind"}
    for key in fields:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            fix = f"did you mean {close[0]!r}?" if close else "remove it"
            raise InvalidInput(
                f"field {key!r} is not part of {kind} events "
                f"(allowed: {', '.join(sorted(allowed - {'kind'}))})",
                field=str(key),
                value=fields[key],
                fix=fix,
            )
    try:
        return msgspec.convert(
            {k: v for k, v in fields.items() if v is not None or strict}, cls, strict=strict
        )
    except msgspec.ValidationError as exc:
        err = _invalid(kind, exc, cls, fields, strict)
        if err.value is None:
            err.value = fields.get(err.field or "")
        raise err from None


def _invalid(
    kind: str, exc: Exception, cls: type[Event], fields: Mapping[str, Any], strict: bool = True
) -> InvalidInput:
    """The error of a failed conversion, naming the field (and the key of a mapping field)."""
    text = str(exc)
    found = _AT.search(text)
    field = found.group(1) if found else None
    if field and field.endswith("[...]") and isinstance(fields.get(field[:-5]), dict):
        name = field[:-5]
        hint = typing.get_type_hints(cls)[name]
        for key, value in fields[name].items():
            try:
                msgspec.convert({key: value}, hint, strict=strict)
            except msgspec.ValidationError:
                return InvalidInput(f"{kind}: {text}", field=f"{name}.{key}", value=value)
    return InvalidInput(f"{kind}: {text}", field=field)


def admit(event: Event, location: Location) -> Event:
    """The one check of an event entering the log; returns it with uris normalised."""
    fast = _FAST.get(type(event))  # type: ignore[call-overload]
    if fast is not None and fast(event):  # the common case (metrics, tags...): well under 1 us
        return event
    return _admit_fully(event, location)


def _admit_fully(event: Event, location: Location) -> Event:
    if not isinstance(event, Event):
        raise InvalidInput(
            f"append takes lakeledger events, got {type(event).__name__}",
            value=event,
            fix="build events from lakeledger.store.events",
        )
    try:
        if not plainly_valid(event):
            _numbers(event)
            event = _readable(event)
        _stream_name(event)
        if type(event) in _WITH_URIS_OR_VERSIONS:
            event = _uris(event, location)
            _versions(event)
    except LedgerError as exc:
        if exc.where is None:
            exc.where = event.kind
        raise
    return event


def _fast_path(cls: type[Event]) -> Callable[[Event], bool] | None:
    """Plain fields and a usable stream name: nothing else to check or normalise."""
    plain = exact_check(cls)
    if plain is None or cls in _WITH_URIS_OR_VERSIONS:
        return None
    name = cls.stream_of[1]
    usable = operator.attrgetter(name)
    known: set[str] = set()  # stream values already found usable: a run logs thousands of points

    def check(e: Event) -> bool:
        if not plain(e):
            return False
        value = usable(e)
        if value in known:
            return True
        if not value.strip() or _CONTROL.search(value):
            return False
        if len(known) < 4096:
            known.add(value)
        return True

    return check


def _readable(event: Event) -> Event:
    """Encode and decode as the log and every reader will: a value that would not come back
    as its declared type (a list as a param, a string as a metric) is refused now, and what is
    committed is what readers will get back (a dict given for a typed schema becomes it)."""
    try:
        encoded = _encoder.encode(event)
    except (TypeError, OverflowError) as exc:
        raise InvalidInput(
            f"a value cannot be stored as JSON ({exc})",
            fix="pass plain str, int, float, bool, None, lists and dicts of them",
        ) from None
    try:
        return msgspec.json.decode(encoded, type=type(event))
    except msgspec.ValidationError as exc:
        data = {f: getattr(event, f) for f in event.__struct_fields__}
        err = _invalid(event.kind, exc, type(event), data)
        err.message = str(exc)
        if err.value is None:
            err.value = _value_at(event, err.field)
        head = (err.field or "").split(".", 1)[0]
        if head == "value":  # the one field of param / metric / tag events: say which it is
            head = {ParamLogged: "params", MetricLogged: "metrics"}.get(type(event), head)
        err.fix = _FIXES.get(head, "give the type the field declares")
        raise err from None


_FIXES = {
    "params": "params are scalars (str, int, float, bool, None): pass e.g. json.dumps(value) or "
    "record structured settings with declare_config",
    "metrics": "metrics are numbers: pass float(value)",
    "occurred_at": "pass a timezone-aware datetime (e.g. datetime.now(UTC)); lakeledger never "
    "guesses the zone of a naive time (no timezone given)",
}


def _value_at(event: Event, path: str | None) -> Any:
    if not path:
        return None
    head = path.split(".", 1)[0].split("[", 1)[0]
    value = getattr(event, head, None)
    rest = path[len(head) :].lstrip(".")
    if rest and isinstance(value, dict):
        value = value.get(rest.split(".", 1)[0])
    return value




def _numbers(event: Event) -> None:
    """JSON has no NaN or infinity (they would come back as null) and the views' columns hold
    64-bit integers (a larger one would read as null): refuse such numbers by name."""
    for name in event.__struct_fields__:
        for path, v in _leaves(name, getattr(event, name)):
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInput(
                    f"{path} is {v}, not a finite number",
                    field=path,
                    value=v,
                    fix="record a finite number (a diverged run is a failed run or a tag)",
                )
            if isinstance(v, int) and not INT64[0] <= v <= INT64[1]:
                raise InvalidInput(
                    f"{path} is {v}, outside the 64-bit integer range",
                    field=path,
                    value=v,
                    fix="record it as text or a float",
                )


def _leaves(path: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(f"{path}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _leaves(f"{path}[{i}]", v)
    else:
        yield path, value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _stream_name(event: Event) -> None:
    """The stream is derived from the class (``stream_of``): its naming field must be usable."""
    prefix, name = event.stream_of
    value = getattr(event, name)
    if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
        raise InvalidInput(
            f"{name} {value!r} cannot name a {prefix} stream",
            field=name,
            value=value,
            fix="give a non-empty name without control characters",
        )


def _uris(event: Event, location: Location) -> Event:
    if isinstance(event, ArtifactRegistered):
        for i, text in enumerate(event.inputs):  # the lineage grammar, so every view can read them
            try:
                parse_ref(text)
            except InvalidInput as exc:
                raise InvalidInput(str(exc), field=f"inputs[{i}]", value=text) from None
        return msgspec.structs.replace(event, uri=location.resolve_artifact(event.uri))
    if isinstance(event, PartitionObserved | PartitionRemoved) and event.uri is not None:
        check_relative(event.uri)
    if isinstance(event, ModelVersionRegistered) and event.artifact_uri is not None:
        check_uri(event.artifact_uri, "artifact_uri")
    return event


_WITH_URIS_OR_VERSIONS = frozenset(
    {
        ArtifactRegistered,
        PartitionObserved,
        PartitionRemoved,
        ModelVersionRegistered,
        ModelStageChanged,
        ModelAliasSet,
    }
)


def _versions(event: Event) -> None:
    """Model versions are assigned by the store (``version=0``); a given one is positive."""
    if isinstance(event, ModelVersionRegistered):
        if event.version < 0:
            raise InvalidInput(
                f"model version {event.version} is negative",
                field="version",
                value=event.version,
                fix="omit the version: the store assigns the next one",
            )
    elif isinstance(event, ModelStageChanged | ModelAliasSet) and event.version < 1:
        raise InvalidInput(
            f"model version {event.version} does not exist: versions start at 1",
            field="version",
            value=event.version,
            fix="give a registered version",
        )


_FAST = {cls: check for cls in KINDS.values() if (check := _fast_path(cls)) is not None}
