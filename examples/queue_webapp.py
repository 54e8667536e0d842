"""Log a web app's API calls to Moesif without slowing its requests down.

A tiny WSGI app queues one event per request with `queue_event`, which returns at
once; a background thread delivers them in batches. `before_send` masks credentials
(header names in any case) and replaces huge bodies with a marker.
Runs offline against the sandbox collector unless MOESIF_APPLICATION_ID is set.

    python examples/queue_webapp.py
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from moesifapi import (
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifClient,
    QueueItem,
    close_on_sigterm,
    mask_body_fields,
    mask_headers,
    truncate_bodies,
)
from moesifapi.testing import Collector

# Matched in any case: ASGI servers hand over "authorization", WSGI "Authorization".
SENSITIVE_HEADERS = ("Authorization", "Cookie", "Set-Cookie", "X-Api-Key")
SENSITIVE_FIELDS = ("password", "access_token", "refresh_token")


def mask_credentials(item: QueueItem) -> QueueItem:
    if isinstance(item, EventModel):
        item = truncate_bodies(item)  # a body over 450 KB becomes a small marker
        request, response = item.request, item.response
        request.headers = mask_headers(request.headers, SENSITIVE_HEADERS, mask="<masked>")
        request.body = mask_body_fields(request.body, SENSITIVE_FIELDS, mask="<masked>")
        if response is not None:
            response.headers = mask_headers(response.headers, SENSITIVE_HEADERS, mask="<masked>")
            response.body = mask_body_fields(response.body, SENSITIVE_FIELDS, mask="<masked>")
    return item


def report_losses(error: Exception, items: Sequence[QueueItem]) -> None:
    noun = "item" if len(items) == 1 else "items"
    print(f"moesif: {len(items)} {noun} not delivered: {error}")


def logged(app: Callable[..., Iterable[bytes]], moesif: MoesifClient) -> Callable[..., Any]:
    """WSGI middleware: run the app, then queue the call as a Moesif event."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = datetime.now(timezone.utc)
        status_line: list[str] = []

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status_line.append(status)
            return start_response(status, headers, *args)

        body = b"".join(app(environ, capture))
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        moesif.queue_event(
            EventModel(
                request=EventRequestModel(
                    time=started,
                    uri=f"http://{environ['HTTP_HOST']}{environ['PATH_INFO']}",
                    verb=environ["REQUEST_METHOD"],
                    headers=headers,
                    ip_address=environ.get("REMOTE_ADDR"),
                ),
                response=EventResponseModel(
                    time=datetime.now(timezone.utc),
                    status=int(status_line[0].split()[0]),
                    headers={"Content-Type": "application/json"},
                    body=json.loads(body),
                ),
                user_id=environ.get("HTTP_X_USER_ID"),
            )
        )
        return [body]

    return middleware


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"hello": environ["PATH_INFO"]}).encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def moesif_client() -> Iterator[tuple[MoesifClient, Collector | None]]:
    settings: dict[str, Any] = {"before_send": mask_credentials, "on_error": report_losses}
    if os.environ.get("MOESIF_APPLICATION_ID"):
        with MoesifClient(**settings) as client:
            yield client, None
        return
    collector = Collector()
    with (
        collector.serve() as base_url,
        MoesifClient(
            application_id=collector.application_id, base_url=base_url, **settings
        ) as client,
    ):
        yield client, collector


def main() -> None:
    # A server is usually stopped with SIGTERM, which by default ends Python at once and
    # loses the queue; this closes every client first (within its exit_timeout).
    close_on_sigterm()
    with moesif_client() as (moesif, sandbox):
        server = make_server("127.0.0.1", 0, logged(hello, moesif), handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        for n in range(20):
            request = urllib.request.Request(
                f"{url}/items/{n}", headers={"Authorization": "Bearer s3cret", "X-User-Id": "u1"}
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
        server.shutdown()
        print(f"served 20 requests; queue stats before close: {moesif.stats}")
        moesif.close(timeout=5)  # delivers what is queued; reports what misses the deadline
        print(f"after close: {moesif.stats}")
        if sandbox is not None:
            sample = sandbox.events[0]["request"]["headers"]["Authorization"]
            print(f"the sandbox holds {len(sandbox.events)} events; Authorization={sample}")


if __name__ == "__main__":
    main()
