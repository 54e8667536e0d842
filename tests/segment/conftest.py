"""Shared fixtures for the Segment mapping tests: sample data and a loopback Segment API.

The loopback server stands in for api.segment.io so the real Segment library can post to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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
