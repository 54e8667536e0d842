"""The command line: ``python -m moesifapi.segment relay`` serves the Segment relay.

It prints its URL, relays until SIGINT or SIGTERM, then closes the client to deliver the queue.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from collections.abc import Sequence
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

from .._client import MoesifClient
from .._queue import QueueItem
from .._signals import stop_on_signals, wait_until_set
from .._wording import counted
from ..exceptions import ValidationError
from ._relay import DEFAULT_RELAY_MAX_BODY_BYTES, relay_app

__all__ = ["SHARED_SECRET_ENV", "main"]

SHARED_SECRET_ENV = "SEGMENT_RELAY_SHARED_SECRET"
"""Where `--shared-secret` is read from when not given: a secret on the command line
shows in the process list."""

# serve_forever notices shutdown() within one poll; the join is a bound, not a wait.
_SERVER_STOP_TIMEOUT = 5.0


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # A slow or stuck sender must not hold up everyone else's webhooks.
    daemon_threads = True


class _ThreadingWSGIServerV6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m moesifapi.segment",
        description="Segment to Moesif: relay Segment webhooks into the Moesif Collector API.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser(
        "relay",
        help="serve the Segment relay until interrupted",
        description="Take Segment webhook POSTs (or a Segment library's batches) and queue "
        "them for Moesif. Prints its URL on the first line of standard output; stops on "
        "Ctrl-C or SIGTERM after delivering what is queued.",
    )
    relay.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    relay.add_argument(
        "--port",
        type=int,
        default=9600,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    relay.add_argument(
        "--application-id",
        help="Moesif application id (default: $MOESIF_APPLICATION_ID)",
    )
    relay.add_argument(
        "--base-url",
        help="Collector API base URL (default: $MOESIF_BASE_URL, else https://api.moesif.net/v1)",
    )
    relay.add_argument(
        "--shared-secret",
        default=os.environ.get(SHARED_SECRET_ENV) or None,
        help=f"require this secret on every request (default: ${SHARED_SECRET_ENV}; "
        "none: accept all)",
    )
    relay.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_RELAY_MAX_BODY_BYTES,
        help="largest request body accepted, before and after gzip (default: %(default)s)",
    )
    return parser


def _report_losses(error: Exception, items: Sequence[QueueItem]) -> None:
    print(
        f"moesif segment relay: {counted(len(items), 'item')} not delivered: {error}",
        file=sys.stderr,
        flush=True,
    )


def _relay(args: argparse.Namespace) -> int:
    try:
        client = MoesifClient(
            application_id=args.application_id, base_url=args.base_url, on_error=_report_losses
        )
        app = relay_app(
            client, shared_secret=args.shared_secret, max_body_bytes=args.max_body_bytes
        )
    except ValidationError as error:
        print(f"moesif segment relay: {error}", file=sys.stderr)
        return 2
    with stop_on_signals() as stop:
        server_class = _ThreadingWSGIServerV6 if ":" in args.host else _ThreadingWSGIServer
        try:
            server = make_server(args.host, args.port, app, server_class=server_class)
        except OSError as error:
            print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            client.close()
            return 1
        serving = threading.Thread(
            target=server.serve_forever, name="segment-relay", kwargs={"poll_interval": 0.2}
        )
        serving.start()
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"http://{host}:{server.server_port}", flush=True)
        print(
            f"moesif segment relay: forwarding to {client!r}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            wait_until_set(stop)
        finally:
            server.shutdown()
            serving.join(_SERVER_STOP_TIMEOUT)
            server.server_close()
            client.close()  # delivers what is still queued
            print(f"moesif segment relay: stopped; {client.stats}", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "relay":
        return _relay(args)
    return 2  # unreachable: argparse requires a known command


if __name__ == "__main__":
    sys.exit(main())
