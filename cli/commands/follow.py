"""``lakeledger follow``: react to events as they commit, from a durable consumer position.

Each event goes to ``--exec CMD`` (the event as JSON on stdin) or ``--webhook URL`` (a JSON POST),
or is printed as a JSON line (``--jsonl``, the default). A failed delivery is retried with
exponential backoff until it succeeds (a webhook receiver that is down gets every event once it
is up again), and recorded as a ``consumer.position`` event with the error, so ``lakeledger
audit consumer/NAME`` shows it.
With ``--consumer NAME`` the position survives restarts (at least once: a follower killed while
delivering delivers that event again); a new named consumer starts at the beginning of the log
(or ``--since``), an unnamed follower at the present.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import msgspec
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.store import RawEvent
from lakeledger.store.errors import InvalidInput
from lakeledger.store.subscription import Subscription


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("follow", help="react to events as they commit (exec a command or call a webhook)")
    p.add_argument("--kind", action="append", help="kind or prefix like 'model.*' (repeatable; default all)")
    p.add_argument(
        "--consumer", metavar="NAME", help="durable position under this name (resumes after restart)"
    )
    p.add_argument("--since", type=int, metavar="V", help="start after version V (a new consumer's start)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--exec", dest="command", metavar="CMD", help="run CMD per event, the event on stdin")
    target.add_argument("--webhook", metavar="URL", help="POST each event as JSON to URL")
    output.add_jsonl(target, "one event per line on stdout (the default without --exec/--webhook)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds one delivery may take (default 30)")
    p.add_argument(
        "--max-backoff", type=float, default=30.0, help="longest wait between retries (default 30 s)"
    )
    p.add_argument(
        "--poll", type=float, default=0.5, help="seconds between looks for new commits (default 0.5)"
    )
    p.add_argument("--once", action="store_true", help="stop when caught up instead of waiting for more")
    p.set_defaults(func=cmd_follow)


def event_json(event: Any, position: tuple[int, int]) -> bytes:
    body = msgspec.to_builtins(event)
    if isinstance(event, RawEvent):
        body = {
            "kind": event.kind,
            "event_id": event.event_id,
            "schema_version": event.schema_version,
            **event.data,
        }
    body["commit"] = {"version": position[0], "seq": position[1]}
    return msgspec.json.encode(body)


def cmd_follow(args: argparse.Namespace) -> int:
    if args.webhook and not args.webhook.lower().startswith(("http://", "https://")):
        raise InvalidInput(f"--webhook {args.webhook!r} must be an http:// or https:// URL")
    if args.timeout <= 0 or args.max_backoff <= 0 or args.poll <= 0:
        raise InvalidInput("--timeout, --max-backoff and --poll must be positive")
    ledger = open_ledger(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    since = args.since if args.since is not None or args.consumer else ledger.version
    sub = Subscription(
        ledger,
        kind=args.kind,
        consumer=args.consumer,
        since=since,
        poll_s=args.poll,
        follow=not args.once,
        stop=stop,
    )
    deliver = _deliverer(args)
    handled = True
    for event in sub:
        body = event_json(event, (sub.position.version, sub.position.seq))
        handled = _until_delivered(deliver, body, event, sub, args, stop)
        if not handled:
            break
    sub.close(handled=handled)
    return 0


def _deliverer(args: argparse.Namespace) -> Any:
    if args.command:

        def run(body: bytes, event: Any) -> None:
            env = {**os.environ, "LAKELEDGER_EVENT_KIND": event.kind, "LAKELEDGER_EVENT_ID": event.event_id}
            done = subprocess.run(
                args.command,
                shell=True,
                input=body,
                env=env,
                timeout=args.timeout,
                stdout=sys.stderr,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{args.command!r} exited {done.returncode}")

        return run
    if args.webhook:

        def post(body: bytes, event: Any) -> None:
            request = urllib.request.Request(
                args.webhook,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "X-Lakeledger-Event-Id": event.event_id,
                    "X-Lakeledger-Kind": event.kind,
                },
            )
            with urllib.request.urlopen(request, timeout=args.timeout) as response:
                response.read()

        return post

    def echo(body: bytes, event: Any) -> None:
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.flush()

    return echo


def _until_delivered(
    deliver: Any, body: bytes, event: Any, sub: Subscription, args: argparse.Namespace, stop: threading.Event
) -> bool:
    """Deliver, retrying with backoff; False only if stopped before it was delivered."""
    attempt = 0
    while True:
        attempt += 1
        try:
            deliver(body, event)
            return True
        except (OSError, RuntimeError, subprocess.SubprocessError, urllib.error.URLError) as exc:
            error = f"delivering {event.kind} {event.event_id}: {exc}"
        print(f"follow: attempt {attempt} failed: {error}", file=sys.stderr, flush=True)
        if attempt & (attempt - 1) == 0:  # attempts 1, 2, 4, 8...: a record, not a flood
            sub.record_failure(error, attempt)
        delay = min(args.max_backoff, 0.25 * 2 ** min(attempt, 20)) * random.uniform(0.5, 1.0)
        if stop.wait(delay):
            return False
