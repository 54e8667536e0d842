"""Shared fixtures for the Segment tests: sample data, a loopback Segment API, destinations.

The loopback server stands in for api.segment.io so the real Segment library can post to it;
`destination` runs the sync or the async destination against the sandbox collector.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from moesifapi import AsyncMoesifClient, MoesifClient
from moesifapi.segment import (
    AsyncSegmentDestination,
    SegmentDestination,
    SegmentPayload,
    SegmentReport,
)
from moesifapi.testing import Collector

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def moesif_profile() -> dict[str, Any]:
    """A full Moesif user profile, as Moesif's own source would read it."""
    profile: dict[str, Any] = json.loads((FIXTURES / "moesif_user_profile.json").read_text())
    return profile


class SegmentCollector:
    """What the loopback server received: one entry per POST, in arrival order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (path, decoded JSON body)
        self._lock = threading.Lock()

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.posts.append((path, body))

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message of every batch posted to /v1/batch."""
        with self._lock:
            return [
                message
                for path, body in self.posts
                if path == "/v1/batch"
                for message in body["batch"]
            ]


def _handler_for(collector: SegmentCollector) -> type[BaseHTTPRequestHandler]:
    class SegmentApiHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            collector.record(self.path, json.loads(self.rfile.read(length)))
            reply = b'{"success": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the default writes every request to stderr

    return SegmentApiHandler


@pytest.fixture
def segment_collector() -> Iterator[SegmentCollector]:
    """A Segment tracking API on 127.0.0.1 at a free port, recording what it is sent."""
    collector = SegmentCollector("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(collector))
    server.daemon_threads = True
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def segment_client(segment_collector: SegmentCollector, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real Segment Python library's client, posting synchronously to the loopback API."""
    analytics = pytest.importorskip("segment.analytics")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy in the environment must not intercept
    return analytics.Client(
        "test-write-key",
        host=segment_collector.url,
        sync_mode=True,  # each call posts before it returns: nothing to wait for
        max_retries=1,
        timeout=5,
    )


@pytest.fixture
def segment_posts(segment_collector: SegmentCollector) -> Callable[[], list[dict[str, Any]]]:
    """The bodies the library posted to /v1/batch so far: Segment batch payloads."""

    def bodies() -> list[dict[str, Any]]:
        return [body for path, body in segment_collector.posts if path == "/v1/batch"]

    return bodies


class Destination:
    """The sync or the async Segment destination over the sandbox, behind one interface.

    `send` is awaited either way, so one test body specifies both destinations.
    """

    def __init__(self, kind: Literal["sync", "async"], collector: Collector, base_url: str) -> None:
        self.kind = kind
        self.collector = collector
        self._sync: SegmentDestination | None = None
        self._async: AsyncSegmentDestination | None = None
        self._http: httpx.Client | httpx.AsyncClient | None = None
        in_process = base_url == collector.base_url
        settings: dict[str, Any] = {
            "application_id": collector.application_id,
            "base_url": base_url,
            "max_retries": 0,  # a failure the test asks for must not be retried with sleeps
        }
        if kind == "sync":
            if in_process:
                self._http = httpx.Client(transport=collector.transport())
            self._sync = SegmentDestination(MoesifClient(http_client=self._http, **settings))
        else:
            if in_process:
                self._http = httpx.AsyncClient(transport=collector.async_transport())
            self._async = AsyncSegmentDestination(
                AsyncMoesifClient(http_client=self._http, **settings)
            )

    async def send(self, payload: SegmentPayload) -> SegmentReport:
        if self._sync is not None:
            return self._sync.send(payload)
        assert self._async is not None
        return await self._async.send(payload)

    def queue(self, payload: SegmentPayload) -> SegmentReport:
        if self._sync is not None:
            return self._sync.queue(payload)
        assert self._async is not None
        return self._async.queue(payload)

    async def flush(self) -> bool:
        if self._sync is not None:
            return self._sync.client.flush(timeout=5)
        assert self._async is not None
        return await self._async.client.flush(timeout=5)

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.client.close()
        if self._async is not None:
            await self._async.client.aclose()
        if isinstance(self._http, httpx.Client):
            self._http.close()
        elif isinstance(self._http, httpx.AsyncClient):
            await self._http.aclose()


@pytest.fixture(params=["sync", "async"])
async def destination(
    request: pytest.FixtureRequest, moesif_collector: Collector
) -> AsyncIterator[Destination]:
    """A `SegmentDestination` or an `AsyncSegmentDestination` on the in-process sandbox."""
    destination = Destination(request.param, moesif_collector, moesif_collector.base_url)
    try:
        yield destination
    finally:
        await destination.close()


@pytest.fixture(params=["sync", "async"])
async def served_destination(
    request: pytest.FixtureRequest, moesif_collector: Collector
) -> AsyncIterator[Destination]:
    """The same, but over HTTP to the sandbox's real server on 127.0.0.1."""
    with moesif_collector.serve() as base_url:
        destination = Destination(request.param, moesif_collector, base_url)
        try:
            yield destination
        finally:
            await destination.close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the default writes every request to stderr


@pytest.fixture
def serve_wsgi() -> Iterator[Callable[[Any], str]]:
    """Serve a WSGI app with wsgiref on 127.0.0.1 at a free port; returns its URL.

    Every server started is shut down when the test ends.
    """
    running: list[tuple[WSGIServer, threading.Thread]] = []

    def serve(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield serve
    finally:
        for server, thread in running:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
