"""Servers that misbehave on purpose, on 127.0.0.1: every call still ends in its bound.

Each server here answers with raw bytes over a real socket: headers or a body dripped a
byte at a time, a body that never ends, a gzip bomb, a redirect to a second server.
Both clients and the queue must come back within the documented bounds (one attempt
takes at most the `timeout`; an answer's body is capped, decompressed), with a typed
error, and without holding more than the cap in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from clients import Client, call, close

import moesifapi
from moesifapi import AsyncMoesifClient, MoesifClient
from moesifapi import _constants as constants
from moesifapi import _protocol as protocol
from moesifapi._engine import Send
from moesifapi.testing import Collector

APP_ID = "hostile-test-application-id"
USER = {"user_id": "u1"}

Script = Callable[[socket.socket, threading.Event], None]


class HostileServer:
    """A TCP server that hands each connection, its request read, to `script`.

    Scripts stop when the client goes away or the server is closed; nothing here
    runs for more than a few seconds.
    """

    def __init__(self, script: Script) -> None:
        self._script = script
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            if read_request(conn):
                self.requests += 1
                self._script(conn, self._stop)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def read_request(conn: socket.socket) -> bool:
    """Read one request's head and body (by Content-Length); False if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def drip(conn: socket.socket, stop: threading.Event, data: bytes, every: float) -> None:
    """Send `data` a byte at a time, `every` seconds apart (at most 10 s in all)."""
    for byte in data[: int(10 / every)]:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


@pytest.fixture
def serve() -> Iterator[Callable[[Script], HostileServer]]:
    servers: list[HostileServer] = []

    def start(script: Script) -> HostileServer:
        server = HostileServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def make(kind: str) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def build(base_url: str, **kwargs: Any) -> Client:
        kwargs.setdefault("application_id", APP_ID)
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 0.5)
        cls = MoesifClient if kind == "sync" else AsyncMoesifClient
        client = cls(base_url=base_url, **kwargs)
        made.append(client)
        return client

    yield build
    for client in made:
        if isinstance(client, MoesifClient):
            client.close(timeout=0)


async def timed(client: Client, method: str, *args: object) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(moesifapi.MoesifError) as caught:
        await call(client, method, *args)
    return caught.value, time.monotonic() - started


# --- slow answers: one attempt never outlasts the timeout, whatever phase drips ---


async def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_timeout(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer]
) -> None:
    head = b"HTTP/1.1 201 Created\r\nX-Padding: " + b"a" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    server = serve(lambda conn, stop: drip(conn, stop, head, every=0.2))

    error, elapsed = await timed(make(server.base_url), "update_user", USER)

    assert isinstance(error, moesifapi.APITimeoutError)
    assert elapsed < 1.5  # timeout=0.5: one attempt, plus scheduling


def test_a_wrapped_transport_of_the_callers_own_client_is_clamped_too(
    serve: Callable[[Script], HostileServer],
) -> None:
    # A transport that wraps the standard one (as integrations.httpx.MoesifTransport
    # does) keeps it as `_transport`: the clamp reaches through to it.
    from moesifapi.integrations.httpx import MoesifTransport

    head = b"HTTP/1.1 201 Created\r\nX-Padding: " + b"a" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    server = serve(lambda conn, stop: drip(conn, stop, head, every=0.2))
    sandbox = Collector(application_id=APP_ID)  # where the captured call is logged
    owner = MoesifClient(
        application_id=APP_ID,
        base_url=sandbox.base_url,
        http_client=httpx.Client(transport=sandbox.transport()),
    )
    http = httpx.Client(transport=MoesifTransport(client=owner))
    client = MoesifClient(
        application_id=APP_ID,
        base_url=server.base_url,
        http_client=http,
        max_retries=0,
        timeout=0.5,
    )
    started = time.monotonic()
    with pytest.raises(moesifapi.APITimeoutError):
        client.update_user(USER)
    assert time.monotonic() - started < 1.5
    client.close(timeout=0)
    owner.close(timeout=0)
    http.close()


async def test_a_body_dripped_a_byte_at_a_time_is_cut_at_the_timeout(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer]
) -> None:
    def slow_body(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        conn.sendall(b"Content-Length: 1000\r\n\r\n{")
        drip(conn, stop, b" " * 999, every=0.2)

    server = serve(slow_body)

    error, elapsed = await timed(make(server.base_url), "get_app_config")

    assert isinstance(error, moesifapi.APITimeoutError)
    assert elapsed < 1.5


async def test_the_queue_closes_in_time_against_a_dripping_server(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer]
) -> None:
    head = b"HTTP/1.1 201 Created\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    server = serve(lambda conn, stop: drip(conn, stop, head, every=0.2))
    lost: list[Any] = []
    client = make(
        server.base_url,
        timeout=5.0,
        flush_interval=0.05,
        on_error=lambda error, items: lost.extend(items),
    )
    client.queue_user(USER)
    for _ in range(200):  # bounded: until the worker's request is under way
        if server.requests:
            break
        await asyncio.sleep(0.01)

    started = time.monotonic()
    if isinstance(client, MoesifClient):
        client.close(timeout=0.5)
    else:
        await client.aclose(timeout=0.5)

    assert time.monotonic() - started < 0.5 + 1
    assert [item.user_id for item in lost] == ["u1"]


# --- unbounded bodies: capped, decompression included ---


def endless_chunked_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" + b" " * 65535
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for _ in range(4096):  # 256 MB at most, long past the cap
        if stop.is_set():
            return
        conn.sendall(frame)
        chunk = b" " * 65536


async def test_an_endless_body_stops_at_the_cap_with_an_error_naming_it(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer]
) -> None:
    server = serve(endless_chunked_body)
    client = make(server.base_url, timeout=10.0)

    tracemalloc.start()
    try:
        error, _ = await timed(client, "get_app_config")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert type(error) is moesifapi.APIError
    assert f"{constants.MAX_READ_ANSWER_BYTES}-byte cap" in str(error)
    assert peak < 3 * constants.MAX_READ_ANSWER_BYTES


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """About 100 KB that inflate to 100 MB."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1024 * 1024)
    return b"".join([*(squeeze.compress(zeros) for _ in range(100)), squeeze.flush()])


async def test_a_gzip_bomb_is_not_inflated_past_the_cap(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer], gzip_bomb: bytes
) -> None:
    def bomb(conn: socket.socket, stop: threading.Event) -> None:
        head = (
            "HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(gzip_bomb)}\r\n\r\n"
        )
        conn.sendall(head.encode() + gzip_bomb)

    server = serve(bomb)
    client = make(server.base_url, timeout=10.0)

    tracemalloc.start()
    try:
        error, _ = await timed(client, "update_user", USER)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert type(error) is moesifapi.APIError
    assert f"{constants.MAX_WRITE_ANSWER_BYTES}-byte cap" in str(error)
    assert peak < 8 * constants.MAX_WRITE_ANSWER_BYTES  # 100 MB if inflated


async def test_a_huge_error_page_is_read_only_as_far_as_it_is_kept(
    make: Callable[..., Client], serve: Callable[[Script], HostileServer]
) -> None:
    server = serve(endless_chunked_body_with_status(503))

    error, _ = await timed(make(server.base_url, timeout=10.0), "update_user", USER)

    assert isinstance(error, moesifapi.ServiceUnavailableError)
    assert len(error.body) <= 2048


def endless_chunked_body_with_status(status: int) -> Script:
    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(f"HTTP/1.1 {status} Oops\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        frame = b"10000\r\n" + b"<" * 65536 + b"\r\n"
        for _ in range(4096):
            if stop.is_set():
                return
            conn.sendall(frame)

    return script


# --- redirects are never followed, even by a caller's client that would ---


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_a_redirect_is_an_error_naming_where_it_pointed_and_nothing_follows_it(
    kind: str, serve: Callable[[Script], HostileServer], status: int
) -> None:
    elsewhere = serve(lambda conn, stop: conn.sendall(b"HTTP/1.1 201 Created\r\n\r\n"))
    location = f"http://127.0.0.1:{elsewhere.port}/steal"

    def redirect(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n\r\n".encode())

    server = serve(redirect)
    http: httpx.Client | httpx.AsyncClient = (
        httpx.Client(follow_redirects=True)
        if kind == "sync"
        else httpx.AsyncClient(follow_redirects=True)
    )
    cls = MoesifClient if kind == "sync" else AsyncMoesifClient
    client = cls(application_id=APP_ID, base_url=server.base_url, http_client=http)  # type: ignore[arg-type]
    try:
        error, _ = await timed(client, "update_user", USER)
    finally:
        await close(client)
        if isinstance(http, httpx.Client):
            http.close()
        else:
            await http.aclose()

    assert isinstance(error, moesifapi.APIStatusError)
    assert error.status_code == status
    assert location in str(error)
    assert elsewhere.requests == 0


# --- settings that would switch a bound off ---


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": httpx.Timeout(None)}, "timeout"),
        ({"timeout": httpx.Timeout(5.0, read=None)}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"flush_interval": float("inf")}, "flush_interval"),
        ({"exit_timeout": float("inf")}, "exit_timeout"),
    ],
)
def test_settings_that_switch_a_bound_off_are_refused(
    kind: str, kwargs: dict[str, Any], field: str
) -> None:
    cls = MoesifClient if kind == "sync" else AsyncMoesifClient
    with pytest.raises(moesifapi.ValidationError) as caught:
        cls(application_id=APP_ID, base_url="http://127.0.0.1:9/v1", **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize("timeout", [float("inf"), -1.0])
def test_a_close_timeout_that_would_switch_the_bound_off_is_refused(timeout: float) -> None:
    client = MoesifClient(application_id=APP_ID, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(moesifapi.ValidationError) as caught:
        client.close(timeout=timeout)
    assert caught.value.field == "timeout"
    client.close(timeout=0)


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://collector.example.com/v1", True),
        ("https://collector.example.com/v1", False),
        ("http://127.0.0.1:9/v1", False),
        ("http://localhost:9/v1", False),
        ("http://[::1]:9/v1", False),
    ],
)
def test_plain_http_off_this_machine_is_warned_about_once(
    base_url: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        client = MoesifClient(application_id=APP_ID, base_url=base_url)
    lines = [r.getMessage() for r in caplog.records if "clear text" in r.getMessage()]
    assert len(lines) == (1 if warned else 0)
    assert all(APP_ID not in line for line in lines)
    client.close(timeout=0)


# --- secrets in what error trackers record ---


def test_reprs_of_what_a_request_is_made_of_hide_the_application_id() -> None:
    settings = protocol.Settings.resolve(
        application_id=APP_ID,
        base_url="https://collector.test/v1",
        timeout=5,
        max_retries=3,
        gzip=True,
        max_batch_bytes=4096,
    )
    core = protocol.Core(settings)
    planned = core.plan_write(protocol.USERS, USER)
    send = Send(planned, settings.timeout, settings.attempt_timeout)
    for text in (repr(planned), repr(send), repr(settings), repr(core.get("/config"))):
        assert APP_ID not in text
        assert "/users" in text or "/config" in text or "Settings" in text
