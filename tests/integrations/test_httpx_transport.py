"""The httpx transports: an app's own outgoing calls logged as "Outgoing" events.

Each test runs with `MoesifTransport` (sync) and `AsyncMoesifTransport`, against a
small real HTTP server on 127.0.0.1 standing in for a third-party API. The Moesif
client delivers to the sandbox in process, except in the show, where it delivers over
a real socket through the very transport it is capturing with.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from moesifapi import AsyncMoesifClient, MoesifClient, ValidationError
from moesifapi.integrations import Headers
from moesifapi.integrations._capture import size_marker
from moesifapi.integrations.httpx import AsyncMoesifTransport, MoesifTransport
from moesifapi.testing import Collector

CHUNK = b"a" * 1000
LARGE = json.dumps({"items": ["x" * 100] * 2000}).encode()  # ~206 KB, over the 100 KB cap


# --- the third-party API ---


class _API(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _APIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, body: bytes, content_type: str = "application/json", **extra: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self._body()
        self._send(json.dumps({"received": len(body), "ok": True}).encode())

    def do_GET(self) -> None:
        try:
            self._get()
        except OSError:  # the client hung up mid-body, as the partial-read test does
            self.close_connection = True

    def _get(self) -> None:
        if self.path == "/json":
            self._send(b'{"hello": "world"}')
        elif self.path == "/gzip":
            self._send(gzip.compress(b'{"compressed": true}'), Content_Encoding="gzip")
        elif self.path == "/large":
            self._send(LARGE)
        elif self.path == "/headers":
            self._send(json.dumps(dict(self.headers.items())).encode())
        elif self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            self.wfile.flush()
            self.server.go_on.wait(5)  # the rest only once the test has read the first
            for _ in range(4):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(b"not here", "text/plain")


class _APIServer(ThreadingHTTPServer):
    daemon_threads = True
    go_on: threading.Event


@pytest.fixture(scope="module")
def api_server() -> Iterator[_APIServer]:
    server = _APIServer(("127.0.0.1", 0), _API)
    server.go_on = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.go_on.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def api(api_server: _APIServer) -> str:
    return f"http://127.0.0.1:{api_server.server_address[1]}"


@pytest.fixture
def go_on(api_server: _APIServer) -> Iterator[threading.Event]:
    """What lets /stream send the rest of its body; set at the end whatever happens."""
    api_server.go_on.clear()
    yield api_server.go_on
    api_server.go_on.set()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- both transports, one harness ---


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Harness:
    """An app's httpx client through a Moesif transport, and the Moesif client it logs to
    (delivering to an in-process sandbox)."""

    def __init__(self, mode: str, inner: Any = None, **options: Any) -> None:
        self.mode = mode
        self.collector = Collector()
        c = self.collector
        if mode == "sync":
            self.moesif: MoesifClient | AsyncMoesifClient = MoesifClient(
                application_id=c.application_id,
                base_url=c.base_url,
                http_client=httpx.Client(transport=c.transport()),
            )
            self.transport: Any = MoesifTransport(inner, client=self.moesif, **options)
            self.http: Any = httpx.Client(transport=self.transport, timeout=5)
        else:
            self.moesif = AsyncMoesifClient(
                application_id=c.application_id,
                base_url=c.base_url,
                http_client=httpx.AsyncClient(transport=c.async_transport()),
            )
            self.transport = AsyncMoesifTransport(inner, client=self.moesif, **options)
            self.http = httpx.AsyncClient(transport=self.transport, timeout=5)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.mode == "sync":
            return self.http.request(method, url, **kwargs)  # type: ignore[no-any-return]
        return await self.http.request(method, url, **kwargs)  # type: ignore[no-any-return]

    async def read_partly(self, url: str) -> bytes:
        """Stream `url`, read its first raw chunk, close; the bytes read."""
        if self.mode == "sync":
            with self.http.stream("GET", url) as response:
                return next(response.iter_raw())  # type: ignore[no-any-return]
        async with self.http.stream("GET", url) as response:
            async for chunk in response.aiter_raw():
                return chunk  # type: ignore[no-any-return]
        raise AssertionError("no body")

    async def events(self, count: int) -> list[dict[str, Any]]:
        """Flush the Moesif client (the queue_event path) and return what was stored."""
        if isinstance(self.moesif, MoesifClient):
            assert self.moesif.flush(timeout=5)
        else:
            assert await self.moesif.flush(timeout=5)
        events = self.collector.events
        assert len(events) == count, events
        return events

    async def close(self) -> None:
        if isinstance(self.moesif, MoesifClient):
            self.http.close()
            self.moesif.close()
            self.moesif._http.close()
        else:
            await self.http.aclose()
            await self.moesif.aclose()
            await self.moesif._http.aclose()


@pytest.fixture
async def make(mode: str) -> AsyncIterator[Any]:
    made: list[Harness] = []

    def factory(inner: Any = None, **options: Any) -> Harness:
        made.append(Harness(mode, inner, **options))
        return made[-1]

    yield factory
    for harness in made:
        await harness.close()


# --- the show ---


class _Late(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport whose inner one is set after the clients exist (the Moesif client
    needs its http client first, the capture transport needs the Moesif client)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.inner: Any = None

    def set(self, inner: Any) -> None:
        self.inner = inner
        self.ready.set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert self.ready.wait(5)
        return self.inner.handle_request(request)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.ready.is_set()
        return await self.inner.handle_async_request(request)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_show_outgoing_calls_are_logged_but_never_the_clients_own(
    mode: str, api: str
) -> None:
    # One httpx client for everything: the app's calls and the Moesif client's own
    # deliveries to a real sandbox on a socket, all through the capture transport.
    collector = Collector()
    late = _Late()
    with collector.serve() as base_url:
        root = base_url.removesuffix("/v1")
        app_id = {"X-Moesif-Application-Id": collector.application_id}
        if mode == "sync":
            http = httpx.Client(transport=late, timeout=5)
            with MoesifClient(
                application_id=collector.application_id, base_url=base_url, http_client=http
            ) as moesif:
                late.set(MoesifTransport(client=moesif))
                assert http.get(f"{api}/json").json() == {"hello": "world"}
                assert (
                    http.get(f"{base_url}/config", headers=app_id).status_code == 200
                )  # Moesif's: skipped
                assert http.get(f"{root}/health/probe").status_code == 200  # skipped too
                assert http.get(f"{root}/elsewhere").status_code == 404  # not the API: logged
                assert moesif.flush(timeout=5)
            http.close()
        else:
            http_async = httpx.AsyncClient(transport=late, timeout=5)
            async with AsyncMoesifClient(
                application_id=collector.application_id,
                base_url=base_url,
                http_client=http_async,
            ) as amoesif:
                late.set(AsyncMoesifTransport(client=amoesif))
                assert (await http_async.get(f"{api}/json")).json() == {"hello": "world"}
                assert (
                    await http_async.get(f"{base_url}/config", headers=app_id)
                ).status_code == 200
                assert (await http_async.get(f"{root}/health/probe")).status_code == 200
                assert (await http_async.get(f"{root}/elsewhere")).status_code == 404
                assert await amoesif.flush(timeout=5)
            await http_async.aclose()
    events = collector.events
    assert [(e["direction"], e["request"]["uri"]) for e in events] == [
        ("Outgoing", f"{api}/json"),
        ("Outgoing", f"{root}/elsewhere"),
    ]
    assert events[0]["response"]["body"] == {"hello": "world"}
    # Its deliveries went through the transport and were not logged: no recursion.
    assert [r.path for r in collector.requests if r.method == "POST"] == ["/v1/events/batch"]


# --- what is captured ---


async def test_json_request_body_and_private_headers_and_fields(make: Any, api: str) -> None:
    h = make()
    response = await h.request(
        "POST",
        f"{api}/orders?x=1",
        json={"item": "book", "password": "hunter2"},
        headers={"Authorization": "Bearer s3cret", "X-Trace": "t1"},
    )
    assert response.json() == {"received": 36, "ok": True}
    (event,) = await h.events(1)
    assert event["direction"] == "Outgoing"
    request, answer = event["request"], event["response"]
    assert request["verb"] == "POST"
    assert request["uri"] == f"{api}/orders?x=1"
    assert request["body"] == {"item": "book", "password": "***"}
    assert request["headers"]["Authorization"] == "***"
    assert request["headers"]["X-Trace"] == "t1"
    assert "ip_address" not in request  # an outgoing call has no client address
    assert answer["status"] == 200
    assert answer["body"] == {"received": 36, "ok": True}
    assert request["time"] <= answer["time"]


async def test_a_streamed_upload_is_teed_as_it_is_sent(make: Any, mode: str, api: str) -> None:
    h = make()
    parts = [b'{"a": ', b"1, ", b'"b": [1, 2]}']
    if mode == "sync":
        content: Any = iter(parts)
    else:

        async def agen() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        content = agen()
    response = await h.request(
        "POST", f"{api}/upload", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.json()["received"] == sum(map(len, parts))
    (event,) = await h.events(1)
    assert event["request"]["body"] == {"a": 1, "b": [1, 2]}


async def test_a_gzip_response_is_decoded_into_json(make: Any, api: str) -> None:
    h = make()
    response = await h.request("GET", f"{api}/gzip")
    assert response.json() == {"compressed": True}  # the caller still gets it decoded
    (event,) = await h.events(1)
    assert event["response"]["headers"]["Content-Encoding"] == "gzip"
    assert event["response"]["body"] == {"compressed": True}


async def test_a_response_read_partly_then_closed_is_captured_as_far_as_read(
    make: Any, api: str, go_on: threading.Event
) -> None:
    h = make()
    read = await h.read_partly(f"{api}/stream")
    go_on.set()
    assert 0 < len(read) < 5 * len(CHUNK)
    (event,) = await h.events(1)
    answer = event["response"]
    assert answer["transfer_encoding"] == "base64"
    assert base64.b64decode(answer["body"]) == read


async def test_a_large_body_is_logged_as_its_size(make: Any, api: str) -> None:
    h = make()
    assert len((await h.request("GET", f"{api}/large")).content) == len(LARGE)
    (event,) = await h.events(1)
    assert event["response"]["body"] == size_marker("larger than max_body_bytes=100000", len(LARGE))


async def test_a_network_error_is_logged_without_a_response_and_propagates(make: Any) -> None:
    h = make()
    url = f"http://127.0.0.1:{closed_port()}/nobody"
    with pytest.raises(httpx.ConnectError):
        await h.request("GET", url)
    (event,) = await h.events(1)
    assert event["request"]["uri"] == url
    assert "response" not in event


async def test_the_wrapped_transports_exception_goes_on_unchanged(make: Any) -> None:
    boom = httpx.ReadTimeout("too slow")

    def handler(request: httpx.Request) -> httpx.Response:
        raise boom

    h = make(httpx.MockTransport(handler))
    with pytest.raises(httpx.ReadTimeout) as raised:
        await h.request("POST", "http://127.0.0.1:9/slow", content=b"payload")
    assert raised.value is boom
    (event,) = await h.events(1)
    assert base64.b64decode(event["request"]["body"]) == b"payload"
    assert "response" not in event


async def test_the_transaction_id_header_is_added_and_matches_the_event(
    make: Any, api: str
) -> None:
    h = make()
    seen = (await h.request("GET", f"{api}/headers")).json()
    given = await h.request("GET", f"{api}/headers", headers={"X-Moesif-Transaction-Id": "t-1"})
    first, second = await h.events(2)
    assert first["transaction_id"] == seen["X-Moesif-Transaction-Id"]
    assert len(first["transaction_id"]) == 36
    assert given.json()["X-Moesif-Transaction-Id"] == "t-1"
    assert second["transaction_id"] == "t-1"


async def test_no_transaction_id_header_when_turned_off(make: Any, api: str) -> None:
    h = make(transaction_id_header=None)
    seen = (await h.request("GET", f"{api}/headers")).json()
    assert "X-Moesif-Transaction-Id" not in seen
    (event,) = await h.events(1)
    assert event["transaction_id"]


async def test_a_response_already_in_memory_is_captured_raw(make: Any) -> None:
    # A transport that answers with bytes (a mock, the sandbox): httpx reads the body
    # before the transport returns; the capture takes the bytes as sent, still gzipped.
    packed = gzip.compress(b'{"in": "memory"}')

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            content=packed,
        )

    h = make(httpx.MockTransport(handler))
    response = await h.request("GET", "http://127.0.0.1:9/mock")
    assert response.json() == {"in": "memory"}
    (event,) = await h.events(1)
    assert event["response"]["status"] == 201
    assert event["response"]["body"] == {"in": "memory"}


async def test_skip_and_log_body_settings_apply(make: Any, api: str) -> None:
    h = make(log_body=False, skip_paths=["/gzip"])
    await h.request("GET", f"{api}/gzip")
    await h.request("GET", f"{api}/json")
    (event,) = await h.events(1)
    assert event["request"]["uri"] == f"{api}/json"
    assert "body" not in event["response"]


async def test_a_capture_failure_never_breaks_the_call(
    make: Any, api: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(pairs: object) -> None:
        raise RuntimeError("capture bug")

    h = make()
    monkeypatch.setattr(Headers, "from_raw", broken)
    with caplog.at_level(logging.ERROR, "moesifapi"):
        response = await h.request("GET", f"{api}/json")
    assert response.json() == {"hello": "world"}
    assert "could not capture GET" in caplog.text
    await h.events(0)


async def test_closing_the_transport_closes_the_wrapped_one(mode: str) -> None:
    closed = []

    class Inner(httpx.BaseTransport, httpx.AsyncBaseTransport):
        def close(self) -> None:
            closed.append("close")

        async def aclose(self) -> None:
            closed.append("aclose")

    collector = Collector()
    if mode == "sync":
        moesif = MoesifClient(
            application_id=collector.application_id,
            base_url=collector.base_url,
            http_client=httpx.Client(transport=collector.transport()),
        )
        with httpx.Client(transport=MoesifTransport(Inner(), client=moesif, sampling=False)):
            pass
        moesif.close()
        assert closed == ["close"]
    else:
        amoesif = AsyncMoesifClient(
            application_id=collector.application_id,
            base_url=collector.base_url,
            http_client=httpx.AsyncClient(transport=collector.async_transport()),
        )
        async with httpx.AsyncClient(
            transport=AsyncMoesifTransport(Inner(), client=amoesif, sampling=False)
        ):
            pass
        await amoesif.aclose()
        assert closed == ["aclose"]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValidationError, match="client"):
        MoesifTransport(client=object())  # type: ignore[arg-type]
    collector = Collector()
    with MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=httpx.Client(transport=collector.transport()),
    ) as moesif:
        with pytest.raises(ValidationError, match="log_bodies"):
            MoesifTransport(client=moesif, log_bodies=False)  # type: ignore[call-arg]
        with pytest.raises(ValidationError, match="max_body_bytes"):
            AsyncMoesifTransport(client=moesif, max_body_bytes=-1)


def test_the_real_httpx_is_imported_inside_the_module() -> None:
    import moesifapi.integrations.httpx as module

    assert vars(module)["httpx"] is httpx
