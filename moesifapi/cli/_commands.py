"""What each `moesif` command does: send, import-har, config and sandbox.

Data goes to stdout (``config``, ``import-har --dry-run``, the sandbox's URL); progress,
warnings, summaries and errors go to stderr, so output can be piped.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from .._constants import DEFAULT_MAX_BATCH_BYTES
from .._wire import to_json
from ..exceptions import ValidationError
from ..testing import DEFAULT_APPLICATION_ID
from ._checking import StaleEvents, check_inputs, check_sendable
from ._connection import Connection, UsageError, connect, hint_for
from ._delivery import Delivery, deliver, undelivered_path_for
from ._har import convert_entries, read_har_entries
from ._kinds import KINDS, RecordKind
from ._progress import open_progress
from ._records import InputFile
from ._spool import Spool

__all__ = ["run_config", "run_import_har", "run_relay", "run_sandbox", "run_send"]

INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT


def say(message: str) -> None:
    """One line of diagnostics on stderr."""
    print(message, file=sys.stderr, flush=True)


# The young generation's threshold while `moesif send` runs (Python's default is 700).
_SEND_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def _collecting_rarely() -> Iterator[None]:
    """Run the cycle collector rarely for the body, then as before.

    Each record decoded from JSON is a tree of dicts and lists that reference counting
    frees as soon as its bytes are spooled; with the default thresholds the collector
    still walks the young ones every 700 allocations and finds nothing, about a tenth
    of the check pass. Memory stays flat, as the records hold no cycles.
    """
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], _SEND_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def run_send(args: argparse.Namespace) -> int:
    forced = KINDS[args.type] if args.type else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_collecting_rarely())
        connection = stack.enter_context(connect(args))
        inputs = InputFile.open_all(args.files, stack)
        # Each valid record is validated and encoded once, here; the send reads its
        # bytes back from the spool, so nothing is decoded or validated twice.
        spool = stack.enter_context(Spool())
        try:
            checked = check_inputs(
                inputs, forced, max_item_bytes=_max_batch_bytes(args), spool=spool
            )
        except KeyboardInterrupt:
            # Nothing has been sent yet: the inputs themselves are what is undelivered.
            say("moesif: error: interrupted while checking the records; nothing was sent")
            return INTERRUPTED
        for problem in checked.problems:
            say(str(problem))
        skipped = len(checked.problems)
        if skipped and not args.skip_invalid:
            raise UsageError(_invalid_message(skipped, checked.valid, "record"))
        warning = checked.stale.warning(checked.valid)
        if warning:
            say(warning)
        kind = checked.kind
        if kind is None or checked.valid == 0:
            if not args.quiet:
                say("nothing to send" + (f" ({skipped} invalid skipped)" if skipped else ""))
            return 0
        return _deliver_and_report(
            args,
            connection,
            kind,
            spool.items(),
            total=checked.valid,
            skipped=skipped,
            first_input=args.files[0],
            rerun_type=forced is not None,
        )


def run_import_har(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        connection = None if args.dry_run else stack.enter_context(connect(args))
        (source,) = InputFile.open_all([args.har], stack)
        entries = read_har_entries(source.path, source.display_name)
        converted = convert_entries(
            entries, user_id=args.user_id, company_id=args.company_id, api_version=args.api_version
        )
        max_item_bytes = _max_batch_bytes(args)
        now = datetime.now(timezone.utc)
        stale = StaleEvents()
        events = []
        problems = 0
        for entry in converted:
            try:
                if entry.event is None:
                    raise ValidationError(entry.problem or "cannot be an event")
                encoded = check_sendable(entry.event, max_item_bytes)
            except ValidationError as error:
                say(f"{entry.where(source.display_name)}: {error}")
                problems += 1
                continue
            events.append(bytes(memoryview(encoded)))  # right-sized: orjson's are 4 KiB
            stale.note(f"entry {entry.index}", entry.event.request.time, now)
        if problems and not args.skip_invalid:
            raise UsageError(_invalid_message(problems, len(events), "entry"))
        warning = stale.warning(len(events))
        if warning:
            say(f"{source.display_name}: {warning}")
        if connection is None:
            out = sys.stdout.buffer
            for event in events:
                out.write(event + b"\n")
            out.flush()
            return 0
        if not events:
            if not args.quiet:
                say("nothing to send")
            return 0
        return _deliver_and_report(
            args,
            connection,
            KINDS["events"],
            events,
            total=len(events),
            skipped=problems,
            first_input=args.har,
            rerun_type=False,
        )


def run_config(args: argparse.Namespace) -> int:
    with connect(args) as connection:
        config = connection.client.get_app_config()
    document = {"etag": config.etag, "config": json.loads(to_json(config))}
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def run_sandbox(args: argparse.Namespace) -> int:
    # The sandbox's own command line does the serving, signals and dump; this only
    # forwards the options, so the two commands cannot drift apart.
    from ..testing.__main__ import main as testing_main

    application_id = getattr(args, "application_id", None) or DEFAULT_APPLICATION_ID
    argv = ["serve", "--host", args.host, "--port", str(args.port)]
    argv += ["--application-id", application_id]
    if args.dump:
        argv += ["--dump", args.dump]
    try:
        return testing_main(argv, prog="moesif")
    except OSError as error:
        raise UsageError(
            f"cannot serve on {args.host}:{args.port}: {error.strerror or error}"
        ) from error


def run_relay(args: argparse.Namespace) -> int:
    # The relay's own command line serves it; `moesif relay` and `python -m
    # moesifapi.segment relay` share its options and code, so they cannot drift apart.
    from ..segment.__main__ import serve_relay

    return serve_relay(args)


def _deliver_and_report(
    args: argparse.Namespace,
    connection: Connection,
    kind: RecordKind,
    items: Iterable[bytes],
    *,
    total: int,
    skipped: int,
    first_input: str,
    rerun_type: bool,
) -> int:
    target = Path(args.undelivered) if args.undelivered else undelivered_path_for(first_input)
    started = time.monotonic()
    with open_progress(f"sending {kind.name}", total, quiet=args.quiet) as progress:
        delivery = deliver(
            connection.client,
            kind,
            items,
            chunk_size=args.chunk_size,
            max_batch_bytes=_max_batch_bytes(args),
            progress=progress,
            undelivered_path=target,
        )
    elapsed = time.monotonic() - started
    if not args.quiet:
        say(_summary(delivery, skipped, connection.requests, elapsed))
    if delivery.error is None:
        return 0
    return _report_failure(delivery, total, rerun_type, hint_for(delivery.error, args))


def _max_batch_bytes(args: argparse.Namespace) -> int:
    chosen: int | None = args.max_batch_bytes
    return DEFAULT_MAX_BATCH_BYTES if chosen is None else chosen


def _summary(delivery: Delivery, skipped: int, requests: int, seconds: float) -> str:
    request_word = "request" if requests == 1 else "requests"
    return (
        f"{delivery.kind.name}: {delivery.sent} sent, {skipped} skipped as invalid,"
        f" {delivery.undelivered} failed; {requests} {request_word} in {seconds:.1f} s"
    )


def _report_failure(delivery: Delivery, total: int, rerun_type: bool, hint: str = "") -> int:
    kind = delivery.kind
    interrupted = isinstance(delivery.error, KeyboardInterrupt)
    reason = "interrupted" if interrupted else one_line(str(delivery.error)) + hint
    say(f"moesif: error: delivery stopped after {delivery.sent} of {kind.count(total)}: {reason}")
    if delivery.undelivered_path is not None:
        type_option = f" --type {kind.name}" if rerun_type else ""
        say(
            f"moesif: {kind.count(delivery.undelivered)} not delivered, saved to"
            f" {delivery.undelivered_path}; to send them: moesif send{type_option}"
            f" {delivery.undelivered_path}"
        )
    return INTERRUPTED if interrupted else 1


def _invalid_message(invalid: int, valid: int, noun: str) -> str:
    plural = "entries" if noun == "entry" else noun + "s"
    counted = f"{invalid} invalid {noun if invalid == 1 else plural}"
    return (
        f"{counted}; nothing was sent (fix them, or pass --skip-invalid to send"
        f" the {valid} valid {noun if valid == 1 else plural})"
    )


def one_line(text: str) -> str:
    """`text` with its line breaks folded, for a one-line message."""
    return " ".join(text.split())
