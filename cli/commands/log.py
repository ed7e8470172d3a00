"""Commands on the event log itself: init, append, events, history."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

import msgspec
import polars as pl
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.store import KINDS, Event, Ledger
from lakeledger.store.errors import InvalidInput, PathEscapeError
from lakeledger.store.events import ArtifactRegistered
from lakeledger.store.schema import DatasetSchema

_ENVELOPE = {"kind", "event_id", "schema_version", "occurred_at"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="create the ledger at --root (idempotent)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("append", help="append JSON Lines events atomically (all or nothing)")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_append)

    p = sub.add_parser("events", help="list events")
    p.add_argument("--kind", action="append", help="kind, or a prefix like 'model.*' (repeatable)")
    p.add_argument("--stream", action="append", help="stream, e.g. model/fraud (repeatable)")
    p.add_argument("--since", type=int, help="only events committed after this version")
    p.add_argument("--as-of", help="the log as of a version or ISO time (UTC if no zone)")
    p.add_argument("--limit", type=int, help="only the newest N (still printed oldest first)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("history", help="commits: version, time, who, events")
    p.add_argument("--limit", type=int, help="only the newest N commits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)


def cmd_init(args: argparse.Namespace) -> int:
    ledger = open_ledger(args, create=True)
    print(f"lakeledger ready at {ledger.location.root} (version {ledger.version})")
    return 0


def parse_lines(
    lines: Iterable[str], ledger: Ledger | None = None, source: str = "<stdin>"
) -> list[Event]:
    """Validate every line into a typed event; the first bad line raises with its number."""
    events: list[Event] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise InvalidInput(
                f"{where}: not valid JSON ({exc}); each line must be one JSON object"
            ) from None
        if not isinstance(obj, dict):
            raise InvalidInput(f"{where}: expected a JSON object, got {type(obj).__name__}")
        kind = obj.get("kind")
        if kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            raise InvalidInput(
                f"{where}: field 'kind': unknown kind {kind!r}; known kinds: {known}"
            )
        cls = KINDS[kind]
        allowed = set(cls.__struct_fields__) | _ENVELOPE
        for key in obj:
            if key not in allowed:
                raise InvalidInput(
                    f"{where}: field {key!r} is not part of {kind} events "
                    f"(allowed: {', '.join(sorted(allowed - {'kind'}))})"
                )
        if kind == "dataset.declared" and obj.get("schema") is not None:
            try:  # any schema shape people write ({"id": "int"}, Spark fields...): one type
                obj["schema"] = msgspec.to_builtins(DatasetSchema.parse(obj["schema"]))
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: field 'schema': {exc}") from None
        try:
            event = msgspec.convert(obj, cls)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"{where}: {kind}: {exc}") from None
        if ledger is not None and isinstance(event, ArtifactRegistered):
            try:
                event = msgspec.structs.replace(
                    event, uri=ledger.location.resolve_artifact(event.uri)
                )
            except PathEscapeError as exc:
                raise InvalidInput(f"{where}: field 'uri': {exc}") from None
        events.append(event)
    return events


def cmd_append(args: argparse.Namespace) -> int:
    if args.file == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text, source = f.read(), args.file
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    ledger = open_ledger(args, create=True)
    events = parse_lines(text.splitlines(), ledger, source)
    if not events:
        raise InvalidInput(f"{source}: no events to append")
    result = ledger.append(events)
    rows: list[dict[str, Any]] = [
        {
            "event_id": e.event_id,
            "kind": e.kind,
            "stream": e.stream,
            "version": result.version,
            **({"model_version": e.version} if e.kind == "model.version_registered" else {}),
        }  # type: ignore[attr-defined]
        for e in result.events
    ]
    rows += [
        {"event_id": i, "kind": "", "stream": "", "version": None, "skipped": "already in log"}
        for i in result.skipped
    ]
    if args.json:
        output.json_out({"version": result.version, "events": rows})
    else:
        output.table(rows, ["event_id", "kind", "stream", "version", "model_version", "skipped"])
        print(
            f"{len(result.events)} appended at version {result.version}, "
            f"{len(result.skipped)} already present"
        )
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    frame = ledger.events(kind=args.kind, stream=args.stream, since=args.since, as_of=args.as_of)
    if args.limit:
        frame = frame.tail(args.limit)
    df = frame.collect()
    if args.json:
        output.json_out([_event_json(row) for row in df.iter_rows(named=True)])
    else:
        detail = pl.Series("detail", [_detail(p) for p in df["payload"]], pl.String)
        output.table(
            df.with_columns(detail, pl.col("writer_user").alias("who")),
            ["version", "recorded_at", "kind", "stream", "detail", "who"],
            empty="(no events)",
        )
    return 0


def _detail(payload: str) -> str:
    """The event's own fields, compactly: what a person scanning the log wants to see."""
    body = msgspec.json.decode(payload)
    kind = body.get("kind", "")
    stream_field = KINDS[kind].stream_of[1] if kind in KINDS else ""
    skip = _ENVELOPE | {stream_field}
    parts = [f"{k}={_short(v)}" for k, v in body.items() if k not in skip and v not in (None, {}, [])]
    return " ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= 40 else text[:39] + "…"


def _event_json(row: dict[str, Any]) -> dict[str, Any]:
    body = msgspec.json.decode(row["payload"])
    # Commit facts go under "commit": an event's own fields (a model's "version") never clash.
    commit = {
        "version": row["version"],
        "seq": row["seq"],
        "recorded_at": row["recorded_at"],
        "user": row["writer_user"],
        "host": row["writer_host"],
        "pid": row["writer_pid"],
        "lakeledger": row["writer_version"],
    }
    return {**body, "commit": commit}


def cmd_history(args: argparse.Namespace) -> int:
    df = open_ledger(args).history(args.limit)
    output.emit(
        args,
        df,
        ["version", "recorded_at", "user", "host", "pid", "operation", "events", "kinds"],
        empty="(no commits)",
    )
    return 0
