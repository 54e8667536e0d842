"""The `moesif` entry point: parse the command line, run the command, map errors to exits.

Exit status 0 means done, 1 delivery failed, 2 a usage or validation error, 130
interrupted (Ctrl-C). Every failure is one line on stderr starting ``moesif: error:``;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

from ..exceptions import APIError, ValidationError
from ._checking import KindUnclearError
from ._commands import (
    INTERRUPTED,
    one_line,
    run_config,
    run_import_har,
    run_relay,
    run_sandbox,
    run_send,
    say,
)
from ._connection import UsageError, hint_for
from ._parser import build_parser
from ._records import InputError

__all__ = ["main"]

USAGE_ERROR = 2
FAILURE = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moesif ARGS...`` and return its exit status (argv defaults to sys.argv)."""
    parser = build_parser(
        send=run_send,
        import_har=run_import_har,
        config=run_config,
        sandbox=run_sandbox,
        relay=run_relay,
    )
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if debug:
        # httpx logs one INFO line per request; the client's own logger says the rest.
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        logging.getLogger("moesifapi").setLevel(logging.DEBUG)
    try:
        status: int = args.handler(args)
    except (UsageError, InputError, KindUnclearError, ValidationError) as error:
        return _fail(error, USAGE_ERROR, debug)
    except APIError as error:
        return _fail(error, FAILURE, debug, hint=hint_for(error, args))
    except KeyboardInterrupt:
        say("moesif: error: interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as error:
        return _fail(error, FAILURE, debug)
    except Exception as error:
        if debug:
            raise
        say(
            f"moesif: error: internal error: {type(error).__name__}: {one_line(str(error))}"
            " (run again with --debug for the traceback)"
        )
        return FAILURE
    return status


def _fail(error: BaseException, status: int, debug: bool, hint: str = "") -> int:
    if debug:
        traceback.print_exception(error)
    say(f"moesif: error: {one_line(str(error))}{hint}")
    return status
