"""The `moesif` command line's grammar: commands, options, help texts and examples.

Connection options are accepted before or after the command (``moesif --base-url U send
F`` and ``moesif send --base-url U F`` mean the same); their defaults are applied when
the client is built, so an option left out never hides an environment variable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from .. import _constants as c
from .._version import __version__
from ..segment.__main__ import RELAY_DESCRIPTION, add_relay_arguments
from ..testing import DEFAULT_APPLICATION_ID
from ._delivery import DEFAULT_CHUNK_SIZE
from ._kinds import KIND_NAMES

__all__ = ["Handler", "build_parser"]

Handler = Callable[[argparse.Namespace], int]

_FORMATTER = argparse.RawDescriptionHelpFormatter

_MAIN_DESCRIPTION = """\
Send API calls, actions, users, companies and subscriptions to Moesif's Collector API
from files, import HAR captures, read the app's config, and run a local sandbox.
Run `moesif COMMAND --help` for a command's options and examples."""

_MAIN_EPILOG = f"""\
examples:
  export {c.APPLICATION_ID_ENV}=your-application-id
  moesif send events.ndjson                     kind of record told from the records
  moesif send --type users users.json           a JSON array of user profiles
  gunzip -c actions.ndjson.gz | moesif send -   records from standard input
  moesif import-har capture.har --user-id u-42  API calls from a browser or proxy capture
  moesif config                                 the app's config and its ETag
  moesif sandbox                                a local Collector API to try things on
  moesif relay                                  Segment webhooks in, Moesif out

exit status:
  0    everything was delivered (or, for sandbox and config, ran fine)
  1    delivery failed; undelivered records were saved to a file `moesif send` takes
  2    usage error, or invalid records (nothing was sent)
  130  interrupted (Ctrl-C); records not yet delivered were saved, as for 1
"""

_SEND_DESCRIPTION = """\
Send records to the Collector API: events, actions, users, companies or subscriptions,
in the API's JSON format (the same keys as its documentation and `moesifapi.to_json`).

Each FILE is NDJSON (one JSON object per line) or a JSON array; `-` reads standard
input. Every record is checked before anything is sent: invalid ones are listed with
their file and line, and then nothing is sent unless --skip-invalid is given.

Without --type the kind of record is told from the records, by the first rule that
matches: events have a "request" with "verb" or "headers" (or a "response"); actions
an "action_name"; subscriptions a "subscription_id"; users a "user_id"; companies a
"company_id". All records of one run must be of one kind.

Records go out in batches of at most --chunk-size records through the batch
endpoints, each kept under --max-batch-bytes, event and action batches several at a
time; failed requests are retried.
If delivery stops part-way, the records not delivered are written as NDJSON to
--undelivered (by default FIRST-FILE with its extension replaced by
.undelivered.ndjson), and the exit status is 1: `moesif send` on that file sends
exactly those records."""

_SEND_EPILOG = f"""\
examples:
  moesif send events.ndjson
  moesif send users-*.ndjson --skip-invalid
  moesif send --type companies companies.json
  jq -c '.[]' export.json | moesif send --type actions -
  moesif send events.undelivered.ndjson      finish a run that failed part-way

environment:
  {c.APPLICATION_ID_ENV}  used when --application-id is not given
  {c.BASE_URL_ENV}        used when --base-url is not given
"""

_HAR_DESCRIPTION = """\
Turn the entries of a HAR 1.2 capture (from a browser's developer tools, mitmproxy,
Charles, ...) into API-call events and send them, or print them with --dry-run.

Each entry becomes one event: startedDateTime is the request time, and the response
time is startedDateTime plus the entry's "time" (milliseconds). Repeated headers are
joined with ", ". HTTP/2 pseudo-headers (":method", ":path", ":scheme", ":status")
are dropped, since the URL, method and status carry them; ":authority" becomes "Host"
when the request has no Host header. JSON bodies are sent as JSON, base64 bodies as
base64 with transfer_encoding "base64", other bodies as text. An entry with status 0
(no response arrived) is sent without a response.

Each event's transaction_id is derived from its entry, so importing the same capture
twice is deduplicated by Moesif. Entries older than 30 days get a warning: the live
API rejects events that old."""

_HAR_EPILOG = """\
examples:
  moesif import-har capture.har --dry-run | head -n 3
  moesif import-har capture.har --user-id u-42 --company-id acme --api-version 2.1
"""

_CONFIG_DESCRIPTION = """\
Fetch the app's config (GET /config) and print it as JSON: {"etag": ..., "config": {...}}.
The etag changes whenever the config does."""

_CONFIG_EPILOG = """\
examples:
  moesif config
  moesif config | jq .config.sample_rate
"""

_SANDBOX_DESCRIPTION = f"""\
Run the sandbox Collector API from moesifapi.testing on a local port until Ctrl-C
(or SIGTERM). It validates and stores what it is sent, like the real API. Its base
URL is printed on the first line of standard output.

The sandbox accepts one application id, {DEFAULT_APPLICATION_ID!r} unless
--application-id says otherwise; {c.APPLICATION_ID_ENV} is not used, so a real id is
never echoed to the terminal."""

_SANDBOX_EPILOG = f"""\
examples:
  moesif sandbox --port 9500 --dump received.ndjson
  # in another shell:
  export {c.BASE_URL_ENV}=http://127.0.0.1:9500/v1 {c.APPLICATION_ID_ENV}={DEFAULT_APPLICATION_ID}
  moesif send events.ndjson
"""


_RELAY_EPILOG = """\
examples:
  moesif relay --port 9600                      loopback only; no secret needed
  SEGMENT_RELAY_SHARED_SECRET=write-key moesif relay --host 0.0.0.0
  moesif relay --host 0.0.0.0 --no-auth         every request accepted (a private network)
"""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its errors worded as every other `moesif` error.

    argparse names a command's parser ``moesif send``, so its errors would start
    ``moesif send: error:``; every error the command prints starts ``moesif: error:``.
    Commands' parsers are of this class too (add_subparsers makes them so).
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"moesif: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _port(text: str) -> int:
    value = _int_at_least(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), got {value}")
    return value


def _shared_options() -> _Parser:
    """Options every command takes. SUPPRESS keeps a subcommand's unset option from
    overwriting the same option given before the command."""
    shared = _Parser(add_help=False)
    shared.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks, and log each HTTP request to stderr",
    )
    return shared


def _connection_options() -> _Parser:
    options = _Parser(add_help=False)
    group = options.add_argument_group("connection options (before or after the command)")
    group.add_argument(
        "--application-id",
        metavar="ID",
        default=argparse.SUPPRESS,
        help=f"your Moesif Application Id (default: ${c.APPLICATION_ID_ENV})",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"the Collector API's base URL"
        f" (default: ${c.BASE_URL_ENV}, else {c.DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=argparse.SUPPRESS,
        help="time limit for each request (default: 30, and 5 to connect)",
    )
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=_int_at_least(0),
        default=argparse.SUPPRESS,
        help="retries of a request that failed with a connection error, a timeout, 408, 429"
        f" or 5xx (default: {c.DEFAULT_MAX_RETRIES})",
    )
    return options


def _add_delivery_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("delivery")
    group.add_argument(
        "--undelivered",
        metavar="PATH",
        help="where to write the records not delivered if delivery fails"
        " (default: beside the first input, ending in .undelivered.ndjson)",
    )
    group.add_argument(
        "--chunk-size",
        metavar="N",
        type=_int_at_least(1),
        default=DEFAULT_CHUNK_SIZE,
        help="most records per request; memory use grows with it (default: %(default)s)",
    )
    group.add_argument(
        "--max-batch-bytes",
        metavar="BYTES",
        type=_int_at_least(1024),
        help="largest request body, before gzip; a batch is cut to stay under it"
        f" (default: {c.DEFAULT_MAX_BATCH_BYTES})",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress and no summary; errors and warnings are still shown",
    )


def build_parser(
    send: Handler,
    import_har: Handler,
    config: Handler,
    sandbox: Handler,
    relay: Handler | None = None,
) -> argparse.ArgumentParser:
    """The whole `moesif` parser; each command's `handler` default is its function."""
    shared = _shared_options()
    connection = _connection_options()
    parser = _Parser(
        prog="moesif",
        description=_MAIN_DESCRIPTION,
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMATTER,
        parents=[shared, connection],
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (moesifapi-typed) {__version__}"
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True

    send_parser = commands.add_parser(
        "send",
        help="send records from NDJSON or JSON-array files",
        description=_SEND_DESCRIPTION,
        epilog=_SEND_EPILOG,
        formatter_class=_FORMATTER,
        parents=[shared, connection],
    )
    send_parser.add_argument(
        "files", nargs="+", metavar="FILE", help="NDJSON or JSON-array file; - for standard input"
    )
    send_parser.add_argument(
        "--type",
        choices=KIND_NAMES,
        metavar="KIND",
        help=f"the kind of record in the files: {', '.join(KIND_NAMES)}"
        " (default: told from the records)",
    )
    send_parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="send the valid records even if some are invalid (they are still listed)",
    )
    _add_delivery_options(send_parser)
    send_parser.set_defaults(handler=send)

    har_parser = commands.add_parser(
        "import-har",
        help="turn a HAR capture into API-call events and send them",
        description=_HAR_DESCRIPTION,
        epilog=_HAR_EPILOG,
        formatter_class=_FORMATTER,
        parents=[shared, connection],
    )
    har_parser.add_argument("har", metavar="FILE.har", help="a HAR 1.2 file; - for standard input")
    har_parser.add_argument("--user-id", metavar="ID", help="user_id for every event")
    har_parser.add_argument("--company-id", metavar="ID", help="company_id for every event")
    har_parser.add_argument(
        "--api-version", metavar="V", help="request.api_version for every event"
    )
    har_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the events as NDJSON instead of sending them (no application id needed)",
    )
    har_parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="send the other events if some entries cannot be turned into events",
    )
    _add_delivery_options(har_parser)
    har_parser.set_defaults(handler=import_har)

    config_parser = commands.add_parser(
        "config",
        help="print the app's config as JSON, with its ETag",
        description=_CONFIG_DESCRIPTION,
        epilog=_CONFIG_EPILOG,
        formatter_class=_FORMATTER,
        parents=[shared, connection],
    )
    config_parser.set_defaults(handler=config)

    sandbox_parser = commands.add_parser(
        "sandbox",
        help="run a local sandbox Collector API until Ctrl-C",
        description=_SANDBOX_DESCRIPTION,
        epilog=_SANDBOX_EPILOG,
        formatter_class=_FORMATTER,
        parents=[shared],
    )
    sandbox_parser.add_argument(
        "--port",
        type=_port,
        default=9500,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    sandbox_parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sandbox_parser.add_argument(
        "--application-id",
        metavar="ID",
        default=argparse.SUPPRESS,
        help=f"the application id to accept (default: {DEFAULT_APPLICATION_ID})",
    )
    sandbox_parser.add_argument(
        "--dump", metavar="FILE", help="on exit, write everything received to FILE as NDJSON"
    )
    sandbox_parser.set_defaults(handler=sandbox)

    if relay is not None:
        relay_parser = commands.add_parser(
            "relay",
            help="relay Segment webhooks (or a Segment library's posts) to Moesif",
            description=RELAY_DESCRIPTION,
            epilog=_RELAY_EPILOG,
            formatter_class=_FORMATTER,
            parents=[shared, connection],
        )
        add_relay_arguments(relay_parser, connection=False)
        relay_parser.set_defaults(handler=relay)
    return parser
