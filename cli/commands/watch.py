"""``lakeledger watch DIR --dataset NAME``: register partitions as they land in a directory.

Runs until SIGINT/SIGTERM. The first signal stops it after the event in flight (everything
decided so far is committed before exit); a second one interrupts at once (exit 130; what was
not committed is caught up on the next start, never lost and never doubled).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import msgspec
from lakeledger.cli import output
from lakeledger.cli.context import open_ledger
from lakeledger.ingest.watch.watcher import Watcher, WatchOptions
from lakeledger.store import Ledger
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput, StorageError
from lakeledger.store.partitions import LAYOUTS

log = logging.getLogger("lakeledger.watch")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("watch", help="register partitions landing in a directory as they complete")
    p.add_argument("directory", help="the landing directory to watch (recursively)")
    p.add_argument("--dataset", required=True, help="dataset the partitions belong to")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="where the partition value comes from: key=value directories (hive), "
                        "a date in the name (date-name), or whichever a path has (auto, default)")
    p.add_argument("--marker", metavar="NAME",
                   help="files count only once a marker file (e.g. _SUCCESS) exists in their "
                        "directory or above; without it a file counts once its size is stable")
    p.add_argument("--debounce-ms", type=int, default=1000,
                   help="how long a file must stay unchanged to count as complete (default 1000)")
    p.add_argument("--grace-s", type=float, default=30.0,
                   help="how long a file that looks unfinished (Parquet without footer, empty) "
                        "may stay so before it is reported as unreadable (default 30)")
    p.add_argument("--batch-size", type=int, default=1000,
                   help="most files registered per commit during a catch-up (default 1000)")
    p.add_argument("--poll", action="store_true",
                   help="poll instead of OS notifications (network file systems, some containers)")
    p.add_argument("--once", action="store_true", help="catch up with what is there, then exit")
    p.add_argument("--refresh-views", action="store_true",
                   help="refresh the materialised views after each commit")
    output.add_json(p, "a JSON array of the recorded events, at the end (needs --once)")
    output.add_jsonl(p, "one recorded event per line, as each commit lands")
    p.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    directory = os.path.abspath(args.directory)
    if not os.path.isdir(directory):
        raise InvalidInput(f"watch: {args.directory!r} is not a directory; create it or give "
                           "the landing directory to watch")
    if not args.dataset.strip() or "/" in args.dataset:
        raise InvalidInput(f"--dataset {args.dataset!r}: give a dataset name without '/'")
    if args.debounce_ms < 0 or args.grace_s < 0 or args.batch_size < 1:
        raise InvalidInput("--debounce-ms and --grace-s must be >= 0, --batch-size >= 1")
    if args.json and (args.jsonl or not args.once):
        raise InvalidInput("watch --json prints one JSON array when the catch-up is done, so it needs "
                           "--once (and not --jsonl); use --jsonl for one event per line as they land")
    options = WatchOptions(dataset=args.dataset, layout=args.layout, marker=args.marker,
                           debounce_s=args.debounce_ms / 1000, grace_s=args.grace_s,
                           force_polling=args.poll, batch_size=args.batch_size)
    ledger = open_ledger(args, create=True)
    stop = threading.Event()
    refresh = _views_refresher(ledger) if args.refresh_views else None
    recorded: list[ev.Event] = []

    def committed(batch: Sequence[ev.Event]) -> None:
        if args.json:
            recorded.extend(batch)
        else:
            _print_events(batch, as_jsonl=args.jsonl)
        if refresh is not None:
            refresh()

    watcher = Watcher(ledger, directory, options, stop=stop, on_commit=committed)
    if not watcher.state.declared:
        print(f"warning: dataset {args.dataset!r} is not declared: partitions are registered "
              "but their schema is not checked (declare it with a dataset.declared event)",
              file=sys.stderr)
    print(f"watching {watcher.root} for dataset {args.dataset!r} (layout {args.layout}, debounce "
          f"{args.debounce_ms} ms{', marker ' + args.marker if args.marker else ''}); "
          f"{len(watcher.state.live)} files already registered", file=sys.stderr, flush=True)
    previous = _install_handlers(stop)
    try:
        counts = watcher.run(once=args.once)
    finally:
        _restore_handlers(previous)
        ledger.close()
        if args.json:
            output.json_out(msgspec.to_builtins(recorded))
    print(f"watch stopped: {counts['observed']} observed, {counts['removed']} removed, "
          f"{counts['problems']} problems reported, {counts['unchanged']} already registered",
          file=sys.stderr, flush=True)
    if watcher.outbox:
        raise StorageError(f"{len(watcher.outbox)} events could not be recorded (see the errors "
                           "above); they will be caught up on the next start")
    return 0


def _install_handlers(stop: threading.Event) -> dict[int, Any]:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # second signal: stop now
        print(f"{signal.Signals(signum).name}: stopping after the event in flight",
              file=sys.stderr, flush=True)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, old in previous.items():
        signal.signal(signum, old)


def _print_events(batch: Sequence[ev.Event], *, as_jsonl: bool) -> None:
    for e in batch:
        if as_jsonl:
            sys.stdout.write(msgspec.json.encode(e).decode() + "\n")
        elif isinstance(e, ev.PartitionObserved):
            print(f"observed  {e.partition}  {e.uri}  rows={e.rows} bytes={e.bytes}")
        elif isinstance(e, ev.PartitionRemoved):
            print(f"removed   {e.partition}  {e.uri}")
        elif isinstance(e, ev.ValidationRecorded):
            details = e.details if isinstance(e.details, dict) else {}
            print(f"{e.severity:<9} {e.check}  {details.get('uri')}  {details.get('reason')}")
    sys.stdout.flush()


def _views_refresher(ledger: Ledger) -> Callable[[], None]:
    """Refresh the materialised views after each commit (views are derived: a failure to
    refresh is logged, the events are recorded all the same)."""
    from lakeledger.projections import refresh

    def run() -> None:
        try:
            refresh(ledger)
        except Exception as exc:  # noqa: BLE001 - views are derived; events are recorded
            log.warning("refreshing views failed (events are recorded): %s", exc)

    return run
