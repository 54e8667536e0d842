"""The command line: ``python -m moesifapi.testing serve`` runs a sandbox collector.

It prints its base URL, serves until SIGINT or SIGTERM, then can dump what it stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._signals import stop_on_signals, wait_until_set
from .._wording import counted
from ._collector import DEFAULT_APPLICATION_ID, DEFAULT_MAX_BODY_BYTES, Collector
from ._server import SandboxServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m moesifapi.testing",
        description="A local Moesif Collector API for development and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a sandbox collector until interrupted",
        description="Serve a sandbox collector; prints its base URL on the first line "
        "of standard output, stops on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=9500,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    serve.add_argument(
        "--application-id",
        default=DEFAULT_APPLICATION_ID,
        help="the X-Moesif-Application-Id to accept (default: %(default)s)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted (default: %(default)s)",
    )
    serve.add_argument(
        "--dump",
        metavar="FILE",
        help="on exit, write every stored item to FILE as NDJSON",
    )
    return parser


def _serve(args: argparse.Namespace, prog: str) -> int:
    collector = Collector(args.application_id, max_body_bytes=args.max_body_bytes)
    with stop_on_signals() as stop:
        try:
            server = SandboxServer(collector, args.host, args.port)
        except OSError as exc:
            print(
                f"{prog}: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
            )
            return 1
        server.start()
        try:
            print(server.base_url, flush=True)
            print(
                f"moesif sandbox collector: application id {collector.application_id!r};"
                " Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            wait_until_set(stop)
        finally:
            server.stop()
    if args.dump:
        count = collector.write_ndjson(args.dump)
        print(f"wrote {counted(count, 'stored item')} to {args.dump}", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m moesifapi.testing") -> int:
    """Run the sandbox's command line; `prog` names the command in error messages
    (``moesif`` when `moesif sandbox` runs it)."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args, prog)
    return 2  # unreachable: argparse requires a known command


if __name__ == "__main__":
    sys.exit(main())
