"""Commands on the event log itself: init, append, events, history.

``history`` reads the newest commit files only (``store/history.py``) and imports no data
library, so its start-up is that of the interpreter; the store is imported where it is used.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from lakeledger.cli import output
from lakeledger.cli.context import location, open_ledger
from lakeledger.store.errors import InvalidInput, LedgerError, PathEscapeError

if TYPE_CHECKING:
    from lakeledger.store import Event, Ledger

_ENVELOPE = {"kind", "event_id", "schema_version", "occurred_at"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="create the ledger at --root (idempotent)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("append", help="append JSON Lines events atomically (all or nothing)")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for stdin")
    output.add_json(p, "a JSON object: version, events (an array: event_id, kind, stream, version)")
    p.set_defaults(func=cmd_append)

    p = sub.add_parser("events", help="list events")
    p.add_argument("--kind", action="append", help="kind, or a prefix like 'model.*' (repeatable)")
    p.add_argument("--stream", action="append", help="stream, e.g. model/fraud (repeatable)")
    p.add_argument("--since", type=int, help="only events committed after this version")
    p.add_argument("--as-of", help="the log as of a version or ISO time (UTC if no zone)")
    p.add_argument("--limit", type=int, help="only the newest N (still printed oldest first)")
    output.add_json(p, "a JSON array of events (each event's fields plus its commit)")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("history", help="commits: version, time, who, events")
    p.add_argument("--limit", type=int, help="only the newest N commits")
    output.add_json(
        p, "a JSON array of commits, newest first (version, recorded_at, user, host, pid, operation, "
        "events, kinds)"
    )
    p.set_defaults(func=cmd_history)


def cmd_init(args: argparse.Namespace) -> int:
    ledger = open_ledger(args, create=True)
    print(f"lakeledger ready at {ledger.location.root} (version {ledger.version})")
    return 0


def parse_lines(
    lines: Iterable[bytes | str], ledger: Ledger | None = None, source: str = "<stdin>"
) -> list[Event]:
    """Validate every line into an admitted event; the first bad line raises with its number.

    Lines are split on ``\\n`` only (JSON Lines): JSON strings may hold U+2028 and friends,
    which ``str.splitlines`` would cut.
    """
    from lakeledger.store import KINDS
    from lakeledger.store.admission import admit, build
    from lakeledger.store.schema import DatasetSchema

    events: list[Event] = []
    for number, raw in enumerate(lines, start=1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"not valid UTF-8 (byte {exc.start + 1} of the line)",
                fix="save the file as UTF-8",
                where=where,
            ) from None
        if not line.strip():
            continue
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise InvalidInput(
                f"not valid JSON ({exc}); each line must be one JSON object", where=where
            ) from None
        if not isinstance(obj, dict):
            raise InvalidInput(f"expected a JSON object, got {type(obj).__name__}", where=where)
        kind = obj.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            raise InvalidInput(
                f"field 'kind': unknown kind {kind!r}; known kinds: {known}",
                field="kind",
                value=kind,
                where=where,
            )
        if kind == "dataset.declared" and obj.get("schema") is not None:
            try:  # any schema shape people write ({"id": "int"}, Spark fields...): one type
                obj["schema"] = msgspec.to_builtins(DatasetSchema.parse(obj["schema"]))
            except InvalidInput as exc:
                raise InvalidInput(
                    f"field 'schema': {exc}", field="schema", value=obj["schema"], where=where
                ) from None
        try:
            event = build(KINDS[kind], obj, strict=True)
            if ledger is not None:
                event = admit(event, ledger.location)
        except PathEscapeError as exc:
            raise InvalidInput(
                f"field {exc.field!r}: {exc.message}", field=exc.field, value=exc.value,
                fix=exc.fix, where=where,
            ) from None
        except LedgerError as exc:
            raise exc.at(where) from None
        events.append(event)
    return events


def cmd_append(args: argparse.Namespace) -> int:
    if args.file == "-":
        data, source = sys.stdin.buffer.read(), "<stdin>"
    else:
        try:
            with open(args.file, "rb") as f:
                data, source = f.read(), args.file
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    ledger = open_ledger(args, create=True)
    events = parse_lines(data.split(b"\n"), ledger, source)
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
    import polars as pl

    ledger = open_ledger(args)
    _check_limit(args.limit)
    frame = ledger.events(kind=args.kind, stream=args.stream, since=args.since, as_of=args.as_of)
    if args.limit:
        frame = frame.tail(args.limit)
    df = frame.collect()
    if args.json:
        output.json_out([event_json(row) for row in df.iter_rows(named=True)])
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
    from lakeledger.store import KINDS
    from lakeledger.store.codec import payload_object

    body = payload_object(payload)
    kind = body.get("kind", "")
    stream_field = KINDS[kind].stream_of[1] if kind in KINDS else ""
    skip = _ENVELOPE | {stream_field}
    parts = [f"{k}={_short(v)}" for k, v in body.items() if k not in skip and v not in (None, {}, [])]
    return " ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= 40 else text[:39] + "…"


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    """An event as ``events --json`` (and the HTTP read API) shows it: fields plus ``commit``."""
    from lakeledger.store.codec import payload_object

    body = payload_object(row["payload"])
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


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InvalidInput(
            f"--limit {limit} is not a positive number", field="limit", value=limit,
            fix="give --limit 1 or more, or leave it out for everything",
        )


def cmd_history(args: argparse.Namespace) -> int:
    _check_limit(args.limit)
    from lakeledger.store.history import newest

    rows = newest(location(args), args.limit)  # the commit files, when they can tell
    output.emit(
        args,
        rows if rows is not None else open_ledger(args).history(args.limit),
        ["version", "recorded_at", "user", "host", "pid", "operation", "events", "kinds"],
        empty="(no commits)",
    )
    return 0
