"""The relay's own HTTP server: wsgiref with a thread per request, a deep backlog, a socket
timeout per read and a deadline for reading the whole request.

It also holds the one rule about exposure: off loopback, no serving without a shared secret
unless the caller says ``no_auth``.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import math
import socket
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ..exceptions import ValidationError
from ._relay import SegmentRelay

__all__ = [
    "DEFAULT_RELAY_BACKLOG",
    "DEFAULT_RELAY_REQUEST_TIMEOUT",
    "DEFAULT_RELAY_SOCKET_TIMEOUT",
    "RelayServer",
    "is_loopback_host",
    "make_relay_server",
]

DEFAULT_RELAY_BACKLOG = 1024
"""Connections the kernel holds while every thread is busy accepting (socketserver's is 5).

Linux caps it at ``net.core.somaxconn`` (4096 on current kernels, 128 on older ones).
"""

DEFAULT_RELAY_SOCKET_TIMEOUT = 30.0
"""Seconds a connection may stay silent mid-request before the relay closes it.

Applies to each read and write on the socket, so a stalled sender's thread ends.
"""

DEFAULT_RELAY_REQUEST_TIMEOUT = 30.0
"""Seconds a sender has to deliver its whole request (request line, headers and body).

Counted from the connection's acceptance, so a sender that trickles a byte every few
seconds, never silent for `DEFAULT_RELAY_SOCKET_TIMEOUT`, is cut off all the same.
"""

logger = logging.getLogger("moesifapi.segment")


class _DeadlineReader(io.RawIOBase):
    """The connection's reading side, where each read waits at most `socket_timeout`
    and never past `deadline` (a `time.monotonic()` value): then `TimeoutError`."""

    def __init__(self, connection: socket.socket, deadline: float, socket_timeout: float) -> None:
        super().__init__()
        self._connection = connection
        self._deadline = deadline
        self._socket_timeout = socket_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request took longer than the relay's request timeout")
        self._connection.settimeout(min(self._socket_timeout, remaining))
        try:
            return self._connection.recv_into(buffer)
        finally:
            # Writes (the answer) keep the plain per-operation timeout.
            self._connection.settimeout(self._socket_timeout)


class _RelayRequestHandler(WSGIRequestHandler):
    server: RelayServer

    def setup(self) -> None:
        deadline = time.monotonic() + self.server.request_timeout
        super().setup()
        # On the socket itself, so it bounds every read and write of the request.
        self.connection.settimeout(self.server.socket_timeout)
        # Every read of the request line, headers and body (the app's wsgi.input) goes
        # through this reader, so the whole request is bounded, not only each read.
        self.rfile.close()  # the socket's own file; the socket stays open
        self.rfile = io.BufferedReader(
            _DeadlineReader(self.connection, deadline, self.server.socket_timeout),
            max(io.DEFAULT_BUFFER_SIZE, self.rbufsize),
        )

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            # Stalled in the request line or headers: drop it without a traceback.
            self.close_connection = True
            logger.debug(
                "closed a connection silent for %s s, or slower than %s s in all",
                self.server.socket_timeout,
                self.server.request_timeout,
            )

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class RelayServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server with one daemon thread per request, serving a `SegmentRelay`.

    Built by `make_relay_server`; run it with ``serve_forever()``, stop it with
    ``shutdown()`` and ``server_close()``.
    """

    daemon_threads = True  # a stuck sender must not hold up shutdown
    request_queue_size = DEFAULT_RELAY_BACKLOG
    socket_timeout: float = DEFAULT_RELAY_SOCKET_TIMEOUT
    request_timeout: float = DEFAULT_RELAY_REQUEST_TIMEOUT


class _RelayServerV6(RelayServer):
    address_family = socket.AF_INET6


def is_loopback_host(host: str) -> bool:
    """Whether every address `host` names is a loopback one (``""`` means every interface)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False  # unresolvable: bind will fail anyway; never call it loopback
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses
    )


def make_relay_server(
    relay: SegmentRelay,
    host: str = "127.0.0.1",
    port: int = 9600,
    *,
    no_auth: bool = False,
    socket_timeout: float = DEFAULT_RELAY_SOCKET_TIMEOUT,
    request_timeout: float = DEFAULT_RELAY_REQUEST_TIMEOUT,
    backlog: int = DEFAULT_RELAY_BACKLOG,
) -> RelayServer:
    """Bind a `RelayServer` for `relay` on `host`:`port` (0: a free port), not yet serving.

    On any address but loopback, `relay` must have a shared secret, or `no_auth=True`
    must say that accepting every request is meant; otherwise `ValidationError`.
    Logs on the ``moesifapi.segment`` logger whether authentication is on (INFO) or
    off (WARNING). `socket_timeout` closes a connection silent that long mid-request;
    `request_timeout` closes one whose request line, headers and body have not all
    arrived that long after it was accepted (a 408 once its headers are in);
    `backlog` is the listen queue. An `OSError` if the address cannot be bound.

        server = make_relay_server(relay_app(client, shared_secret="s3cret"), "0.0.0.0")
        server.serve_forever()
    """
    for name, seconds in (("socket_timeout", socket_timeout), ("request_timeout", request_timeout)):
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not (seconds > 0 and math.isfinite(seconds))
        ):
            raise ValidationError(
                f"must be a finite number of seconds > 0, got {seconds!r}", field=name
            )
    if type(backlog) is not int or backlog < 1:
        raise ValidationError(f"must be an int >= 1, got {backlog!r}", field="backlog")
    if not relay.authenticated and not no_auth and not is_loopback_host(host):
        raise ValidationError(
            f"refusing to listen on {host or 'every interface'} without a shared secret:"
            " anyone who reaches it could write to Moesif; set a shared secret,"
            " or pass no_auth=True (--no-auth) to accept every request",
            field="shared_secret",
        )
    server_class = _RelayServerV6 if ":" in host else RelayServer
    server = server_class((host, port), _RelayRequestHandler, bind_and_activate=False)
    server.request_queue_size = backlog  # read by server_activate's listen()
    server.socket_timeout = float(socket_timeout)
    server.request_timeout = float(request_timeout)
    try:
        server.server_bind()
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    server.set_app(relay)
    where = f"[{host}]" if ":" in host else host
    if relay.authenticated:
        logger.info(
            "listening on %s:%s; authentication on: every request must carry the shared secret",
            where,
            server.server_port,
        )
    else:
        logger.warning(
            "listening on %s:%s; authentication OFF: every request is accepted%s",
            where,
            server.server_port,
            " (no_auth)" if no_auth else " (loopback only)",
        )
    return server
