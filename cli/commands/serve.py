"""``lakeledger serve``: the HTTP server (see ``lakeledger.cli.serve``)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from lakeledger.cli.context import storage_options
from lakeledger.cli.serve import DEFAULT_MAX_BODY
from lakeledger.store.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="HTTP server: append, OpenLineage, views, subscriptions")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument(
        "--token-env",
        metavar="NAME",
        help="require 'Authorization: Bearer <token>', the token read from env var NAME",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help=f"largest request body accepted (default {DEFAULT_MAX_BODY})",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise InvalidInput(f"--token-env {args.token_env}: that environment variable is empty or unset")
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port {args.port} must be between 1 and 65535")
    if args.max_body < 1:
        raise InvalidInput("--max-body must be a positive number of bytes")
    if token is None and not _loopback(args.host):
        print(
            f"warning: serving on {args.host} without a token: anyone who reaches it can append; "
            "use --token-env NAME",
            file=sys.stderr,
        )
    from lakeledger.cli.serve.server import serve

    serve(
        args.root,
        storage_options(args.storage_option),
        host=args.host,
        port=args.port,
        token=token,
        max_body=args.max_body,
    )
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
