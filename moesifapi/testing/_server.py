"""A real HTTP/1.1 server on a local port that puts a Collector behind a socket.

Threads per connection, keep-alive, and a bounded shutdown that releases held
requests and closes idle connections instead of waiting on them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ._decoding import declared_length

if TYPE_CHECKING:
    from ._collector import Collector

__all__ = ["SandboxServer"]

logger = logging.getLogger("moesifapi.testing")

# How long stop() waits for requests in progress before cutting their sockets.
SHUTDOWN_GRACE = 5.0
_CHUNK = 64 * 1024


class _BodyUnreadable(Exception):
    """The client went away or sent a body we cannot frame; drop the connection."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Lets the CLI restart at once on a fixed port whose old sockets are in TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], collector: Collector) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.collector = collector
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, socket.socket] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        # Our own threads (instead of ThreadingMixIn's) so stop() can find them.
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"moesif-sandbox-conn-{client_address}",
            daemon=True,
        )
        with self._lock:
            self._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer are routine here (timeouts, drops, shutdown).
        logger.debug(
            "sandbox connection from %s ended with an error", client_address, exc_info=True
        )

    def close_connections(self, how: int) -> list[threading.Thread]:
        with self._lock:
            connections = list(self._connections.items())
        for _, sock in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                sock.shutdown(how)
        return [thread for thread, _ in connections]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle's algorithm on, the body would
    # wait for the client's delayed ACK, about 40 ms on every answer.
    disable_nagle_algorithm = True
    server_version = "moesif-sandbox"
    sys_version = ""
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s - " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        limit = self.server.collector.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = declared_length({"content-length": self.headers.get("Content-Length", "0")})
        if length > limit:
            # Read and forget it, so the client gets to see our 413 instead of a
            # reset; the collector judges the size from Content-Length.
            self._discard(length)
            return b""
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BodyUnreadable
        return body

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, _CHUNK))
            if not chunk:
                raise _BodyUnreadable
            length -= len(chunk)

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyUnreadable from None
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            chunk = self.rfile.read(size)
            self.rfile.readline(1024)
            if len(chunk) != size or len(body) + size > limit + 1:
                raise _BodyUnreadable
            body += chunk

    def _relay(self) -> None:
        try:
            body = self._read_body()
        except (_BodyUnreadable, OSError):
            self.close_connection = True
            return
        collector = self.server.collector
        collector._gate.wait()
        outcome = collector.handle(self.command, self.path, self.headers.items(), body)
        if outcome.delay:
            # An Event rather than sleep, so stop() cuts latency short.
            self.server.stopping.wait(outcome.delay)
        if outcome.dropped or outcome.status is None:
            self.close_connection = True
            return
        self.send_response(outcome.status)
        for name, value in outcome.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(outcome.body)))
        if self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(outcome.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _relay


class SandboxServer:
    """The collector behind 127.0.0.1:port, served from a background thread."""

    def __init__(self, collector: Collector, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = _HTTPServer((host, port), collector)
        self.collector = collector
        bound_port = self._httpd.server_address[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown_host}:{bound_port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="moesif-sandbox-server",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop accepting, release held requests, close idle connections, and wait
        at most `grace` seconds for requests in progress."""
        deadline = time.monotonic() + grace
        httpd = self._httpd
        httpd.stopping.set()
        if self._thread.is_alive():
            httpd.shutdown()
        self.collector.release()
        # Shutting the read side wakes threads idling between keep-alive requests
        # with EOF, while a request in progress can still write its answer.
        for thread in httpd.close_connections(socket.SHUT_RD):
            thread.join(max(deadline - time.monotonic(), 0.0))
        for thread in httpd.close_connections(socket.SHUT_RDWR):
            thread.join(0.5)
        self._thread.join(max(deadline - time.monotonic(), 0.5))
        httpd.server_close()
