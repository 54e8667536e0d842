"""The relay's command line: ``moesif relay``, also spelled ``python -m moesifapi.segment relay``.

It prints its URL, relays until SIGINT or SIGTERM, then closes the client to deliver the queue.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence

from .._client import MoesifClient
from .._queue import QueueItem
from .._signals import stop_on_signals, wait_until_set
from .._wording import counted
from ..exceptions import ValidationError
from ._relay import DEFAULT_RELAY_MAX_BODY_BYTES, relay_app
from ._server import (
    DEFAULT_RELAY_REQUEST_TIMEOUT,
    DEFAULT_RELAY_SOCKET_TIMEOUT,
    RelayServer,
    make_relay_server,
)

__all__ = ["SHARED_SECRET_ENV", "add_relay_arguments", "main", "serve_relay"]

SHARED_SECRET_ENV = "SEGMENT_RELAY_SHARED_SECRET"
"""Where `--shared-secret` is read from when not given: a secret on the command line
shows in the process list."""

# serve_forever notices shutdown() within one poll; the join is a bound, not a wait.
_SERVER_STOP_TIMEOUT = 5.0


RELAY_DESCRIPTION = """\
Take Segment webhook POSTs (or a Segment library's batches) and queue them for Moesif.
Prints its URL on the first line of standard output; stops on Ctrl-C or SIGTERM after
delivering what is queued.

On any address but loopback it needs a shared secret (--shared-secret or
$SEGMENT_RELAY_SHARED_SECRET), or --no-auth to accept every request. It says on
standard error whether authentication is on. For production, serve relay_app under
gunicorn instead (see docs/segment.md)."""


def add_relay_arguments(parser: argparse.ArgumentParser, *, connection: bool = True) -> None:
    """The relay's options on `parser`; `connection` adds --application-id and --base-url
    (the `moesif` command has its own)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=9600,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    if connection:
        parser.add_argument(
            "--application-id",
            help="Moesif application id (default: $MOESIF_APPLICATION_ID)",
        )
        parser.add_argument(
            "--base-url",
            help="Collector API base URL"
            " (default: $MOESIF_BASE_URL, else https://api.moesif.net/v1)",
        )
    parser.add_argument(
        "--shared-secret",
        default=os.environ.get(SHARED_SECRET_ENV) or None,
        help=f"require this secret on every request (default: ${SHARED_SECRET_ENV})",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="accept every request without a shared secret, even on a non-loopback address",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_RELAY_MAX_BODY_BYTES,
        help="largest request body accepted, before and after gzip (default: %(default)s)",
    )
    parser.add_argument(
        "--socket-timeout",
        type=float,
        default=DEFAULT_RELAY_SOCKET_TIMEOUT,
        metavar="SECONDS",
        help="close a connection silent this long mid-request (default: %(default)s)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_RELAY_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request (headers and body) has not all arrived"
        " this long after it connected (default: %(default)s)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m moesifapi.segment",
        description="Segment to Moesif: relay Segment webhooks into the Moesif Collector API."
        " The same as `moesif relay`.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser(
        "relay",
        help="serve the Segment relay until interrupted (the same as `moesif relay`)",
        description=RELAY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_relay_arguments(relay)
    return parser


def _report_losses(error: Exception, items: Sequence[QueueItem]) -> None:
    print(
        f"moesif segment relay: {counted(len(items), 'item')} not delivered: {error}",
        file=sys.stderr,
        flush=True,
    )


def serve_relay(args: argparse.Namespace) -> int:
    """Serve the relay `args` describe until SIGINT or SIGTERM; 0 once stopped cleanly.

    Raises `ValidationError` for a bad setting (a non-loopback address without a shared
    secret or --no-auth included) and `OSError` if the address cannot be bound.
    """
    client_options = {
        name: getattr(args, name)
        for name in ("timeout", "max_retries")
        if getattr(args, name, None) is not None
    }
    client = MoesifClient(
        application_id=getattr(args, "application_id", None),
        base_url=getattr(args, "base_url", None),
        on_error=_report_losses,
        **client_options,
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(client.close)  # delivers what is still queued
        cleanup.enter_context(_relay_log_on_stderr())
        app = relay_app(
            client, shared_secret=args.shared_secret, max_body_bytes=args.max_body_bytes
        )
        try:
            server = make_relay_server(
                app,
                args.host,
                args.port,
                no_auth=args.no_auth,
                socket_timeout=args.socket_timeout,
                request_timeout=args.request_timeout,
            )
        except OSError as error:
            raise OSError(
                f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
            ) from error
        return _serve_until_signalled(server, client)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions here


@contextlib.contextmanager
def _relay_log_on_stderr() -> Iterator[None]:
    """Show the relay's log (whether authentication is on, first) on stderr, once.

    Not propagated while it runs, so --debug's root handler does not repeat it.
    """
    relay_logger = logging.getLogger("moesifapi.segment")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("moesif segment relay: %(message)s"))
    handler.setLevel(logging.INFO)
    saved = (relay_logger.level, relay_logger.propagate)
    relay_logger.addHandler(handler)
    if relay_logger.getEffectiveLevel() > logging.INFO:
        relay_logger.setLevel(logging.INFO)
    relay_logger.propagate = False
    try:
        yield
    finally:
        relay_logger.removeHandler(handler)
        relay_logger.setLevel(saved[0])
        relay_logger.propagate = saved[1]


def _serve_until_signalled(server: RelayServer, client: MoesifClient) -> int:
    with stop_on_signals() as stop:
        serving = threading.Thread(
            target=server.serve_forever, name="segment-relay", kwargs={"poll_interval": 0.2}
        )
        serving.start()
        host = str(server.server_address[0])
        host = f"[{host}]" if ":" in host else host
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
    if args.command != "relay":
        return 2  # unreachable: argparse requires a known command
    try:
        return serve_relay(args)
    except ValidationError as error:
        print(f"moesif segment relay: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"moesif segment relay: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
