"""The `MoesifClient` a command talks through, built from the global options.

Options win over ``MOESIF_APPLICATION_ID`` and ``MOESIF_BASE_URL``; every HTTP request
the client makes (retries included) is counted for the end-of-run summary.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .. import _constants as c
from .._client import MoesifClient
from ..exceptions import NotFoundError, ValidationError

__all__ = ["Connection", "UsageError", "connect", "hint_for"]

# The client's own option names, as a user of the command line knows them.
_OPTION_FOR_FIELD = {
    "application_id": "--application-id",
    "base_url": "--base-url",
    "timeout": "--timeout",
    "max_retries": "--max-retries",
    "max_batch_bytes": "--max-batch-bytes",
}


class UsageError(Exception):
    """The command line cannot be carried out as given (exit status 2)."""


class Connection:
    """A ready client and the number of HTTP requests it has made so far."""

    def __init__(self, client: MoesifClient, request_count: list[int]) -> None:
        self.client = client
        self._request_count = request_count

    @property
    def requests(self) -> int:
        return self._request_count[0]


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    """A client for the global options in `args`, closed when the block ends."""
    application_id = getattr(args, "application_id", None) or os.environ.get(c.APPLICATION_ID_ENV)
    if not application_id or not application_id.strip():
        raise UsageError(f"no application id: pass --application-id or set {c.APPLICATION_ID_ENV}")
    request_count = [0]
    counting = threading.Lock()  # requests go from several sender threads at once

    def count_request(request: httpx.Request) -> None:
        with counting:
            request_count[0] += 1

    timeout = getattr(args, "timeout", None)
    max_retries = getattr(args, "max_retries", None)
    max_batch_bytes = getattr(args, "max_batch_bytes", None)
    http = httpx.Client(event_hooks={"request": [count_request]})
    try:
        try:
            client = MoesifClient(
                application_id=application_id,
                base_url=getattr(args, "base_url", None),
                timeout=c.DEFAULT_TIMEOUT if timeout is None else timeout,
                max_retries=c.DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
                max_batch_bytes=(
                    c.DEFAULT_MAX_BATCH_BYTES if max_batch_bytes is None else max_batch_bytes
                ),
                http_client=http,
            )
        except ValidationError as error:
            raise UsageError(_for_command_line(error)) from error
        with client:
            yield Connection(client, request_count)
    finally:
        http.close()


def hint_for(error: BaseException | None, args: argparse.Namespace) -> str:
    """What to add to `error`'s message to help: for a 404 from a base URL that does
    not end in /v1 (``http://localhost:9500`` for ``http://localhost:9500/v1``), the
    URL with it. Empty when there is nothing to add."""
    while error is not None and not isinstance(error, NotFoundError):
        error = error.__cause__  # a PartialBatchError carries the 404 as its cause
    if error is None:
        return ""
    chosen = getattr(args, "base_url", None) or os.environ.get(c.BASE_URL_ENV)
    base = (chosen or c.DEFAULT_BASE_URL).rstrip("/")
    try:
        path = httpx.URL(base).path.rstrip("/")
    except (httpx.InvalidURL, TypeError):
        return ""
    if path.endswith("/v1"):
        return ""
    return f" (did you mean --base-url {base}/v1? The Collector API's paths start with /v1)"


def _for_command_line(error: ValidationError) -> str:
    """The client's message, its Python argument name swapped for the option's."""
    option = _OPTION_FOR_FIELD.get(error.field or "")
    if option is None:
        return str(error)
    reason = error.reason.replace("pass application_id=... or set", "pass --application-id or set")
    return f"{option} {reason}"
