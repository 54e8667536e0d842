"""The ASGI middleware: a FastAPI app under a real uvicorn, called over HTTP, logging
to a real sandbox server; then the edge cases in process, on raw ASGI apps."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from moesifapi import AsyncMoesifClient, ClientClosedError, MoesifClient, ValidationError
from moesifapi.integrations.asgi import MoesifMiddleware
from moesifapi.testing import Collector

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

BLOCK_RULE = {
    "_id": "block-mallory",
    "name": "Mallory is out of credit",
    "type": "user",
    "block": True,
    "applied_to": "matching",
    "applied_to_unidentified": False,
    "response": {
        "status": 402,
        "headers": {"X-Blocked-By": "block-mallory"},
        "body": {"error": "out of credit"},
    },
    "regex_config": [],
}


def governed_collector() -> Collector:
    collector = Collector()
    collector.rules = [BLOCK_RULE]
    collector.config = {
        **collector.config,
        "user_rules": {"mallory": [{"rules": "block-mallory", "values": {}}]},
    }
    return collector


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# uvicorn shuts down gracefully on SIGTERM (lifespan shutdown included), then ends
# itself by the signal again, as a process that did not handle it would.
GRACEFUL = (0, -signal.SIGTERM)


class Server:
    """`asgi_app` under uvicorn in a process of its own."""

    def __init__(self, sandbox_url: str, application_id: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MOESIF_")}
        environ.update(
            ASGI_TEST_BASE_URL=sandbox_url,
            ASGI_TEST_APPLICATION_ID=application_id,
            PYTHONPATH=os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")]),
            **env,
        )
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "asgi_app:app"),
                    *("--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(self.port)),
                    *("--lifespan", "on", "--log-level", "warning", "--no-access-log"),
                ],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, ready: Callable[[httpx.Response], bool]) -> None:
        deadline = time.monotonic() + 10
        with httpx.Client(base_url=self.url, timeout=1) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                with contextlib.suppress(httpx.TransportError):
                    if ready(http.get("/steering")):
                        return
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"uvicorn did not get ready:\n{self.log.read_text()}")

    def stop(self) -> int:
        """SIGTERM, as a container runtime stops it; the exit code (see GRACEFUL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def steered(response: httpx.Response) -> bool:
    """The app's client has fetched the rules and the config."""
    data = response.json()
    return bool(data["rules"]) and bool(data["config"])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Collector, str]]:
    collector = governed_collector()
    with collector.serve() as base_url:
        yield collector, base_url


@pytest.fixture(scope="module")
def server(
    sandbox: tuple[Collector, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    collector, base_url = sandbox
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    running = Server(base_url, collector.application_id, log)
    try:
        running.wait_ready(steered)
        yield running
    finally:
        code = running.stop()
    log_text = log.read_text()
    assert code in GRACEFUL, log_text
    assert "moesifapi: " not in log_text  # no capture failed


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def event_for(collector: Collector, response: httpx.Response) -> dict[str, Any]:
    """The one event the sandbox holds for `response`, by its transaction id."""
    tid = response.headers["x-moesif-transaction-id"]

    def matching(c: Collector) -> list[dict[str, Any]]:
        return [e for e in c.events if e.get("transaction_id") == tid]

    assert collector.wait_until(lambda c: bool(matching(c)), timeout=5), tid
    (event,) = matching(collector)
    return event


def decoded(body: object) -> bytes:
    assert isinstance(body, str)
    return base64.b64decode(body)


# --- over HTTP: FastAPI under uvicorn ---


def test_json_post_is_one_event_with_url_masked_headers_json_body_and_user(
    server: Server, http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    response = http.post(
        "/items?color=red",
        json={"name": "widget", "password": "hunter2"},
        headers={"Authorization": "Bearer s3cret", "X-User-Id": "alice"},
    )
    assert response.status_code == 201
    assert response.json() == {"created": {"name": "widget", "password": "hunter2"}}
    event = event_for(sandbox[0], response)
    request = event["request"]
    assert request["uri"] == f"{server.url}/items?color=red"
    assert request["verb"] == "POST"
    assert request["headers"]["authorization"] == "***"
    assert request["headers"]["x-user-id"] == "alice"
    assert request["body"] == {"name": "widget", "password": "***"}
    assert request["ip_address"] == "127.0.0.1"
    assert event["response"]["status"] == 201
    assert event["response"]["body"] == {"created": {"name": "widget", "password": "***"}}
    assert event["user_id"] == "alice"
    assert event["direction"] == "Incoming"
    assert event["transaction_id"] == response.headers["x-moesif-transaction-id"]


def test_a_5_mb_upload_reaches_the_app_whole_and_is_logged_as_its_size(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    data = os.urandom(5 * 1024 * 1024)
    request = http.build_request(
        "POST",
        "/upload",
        files={"file": ("blob.bin", data, "application/octet-stream")},
        headers={"X-User-Id": "uploader"},
    )
    size = int(request.headers["content-length"])
    response = http.send(request)
    assert response.status_code == 200
    assert response.json() == {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}
    event = event_for(sandbox[0], response)
    marker = event["request"]["body"]["moesif_body_omitted"]
    assert marker["size"] == size > len(data)
    assert "max_body_bytes" in marker["reason"]
    assert event["user_id"] == "uploader"
    assert event["response"]["status"] == 200


def test_an_sse_stream_reaches_the_caller_as_it_is_sent(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    with http.stream("GET", "/stream", headers={"X-User-Id": "streamer"}) as response:
        lines = response.iter_lines()
        assert next(lines) == "data: first"
        # The app waits for this before it sends the rest: the first event came through
        # the middleware while the stream was still open.
        assert http.post("/release").status_code == 200
        rest = list(lines)
    assert "data: second" in rest
    event = event_for(sandbox[0], response)
    assert event["response"]["status"] == 200
    assert event["response"]["headers"]["content-type"].startswith("text/event-stream")
    assert decoded(event["response"]["body"]) == b"data: first\n\ndata: second\n\n"
    assert event["user_id"] == "streamer"


def test_a_caller_that_leaves_mid_stream_is_logged_as_far_as_it_got(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    with http.stream("GET", "/stream", headers={"X-User-Id": "leaver"}) as response:
        assert next(response.iter_lines()) == "data: first"
    # The connection is closed with the stream still open: the app sees a disconnect.
    event = event_for(sandbox[0], response)
    assert event["response"]["status"] == 200
    assert decoded(event["response"]["body"]) == b"data: first\n\n"
    assert event["user_id"] == "leaver"


def test_an_endpoint_that_raises_is_a_500_event(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    response = http.get("/boom", headers={"X-User-Id": "bob"})
    assert response.status_code == 500
    event = event_for(sandbox[0], response)
    assert event["response"]["status"] == 500
    assert event["request"]["uri"].endswith("/boom")
    assert event["user_id"] == "bob"


def test_a_skipped_health_check_is_not_logged(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    collector = sandbox[0]
    health = http.get("/health")
    assert health.status_code == 200
    later = http.post("/items", json={"after": "health"})
    event_for(collector, later)  # queued after the health check, so delivered after it
    tid = health.headers["x-moesif-transaction-id"]
    assert not [e for e in collector.events if e.get("transaction_id") == tid]
    assert not [e for e in collector.events if e["request"]["uri"].endswith("/health")]


def test_a_governance_rule_blocks_the_user_before_the_app(
    http: httpx.Client, sandbox: tuple[Collector, str]
) -> None:
    before = http.get("/governed/calls").json()["calls"]
    allowed = http.get("/governed", headers={"X-User-Id": "alice"})
    assert (allowed.status_code, allowed.text) == (200, "handled")
    blocked = http.get("/governed", headers={"X-User-Id": "mallory"})
    assert blocked.status_code == 402
    assert blocked.json() == {"error": "out of credit"}
    assert blocked.headers["x-blocked-by"] == "block-mallory"
    assert blocked.headers["content-type"] == "application/json"
    assert http.get("/governed/calls").json()["calls"] == before + 1  # alice's only
    event = event_for(sandbox[0], blocked)
    assert event["blocked_by"] == "block-mallory"
    assert event["user_id"] == "mallory"
    assert event["response"]["status"] == 402
    assert event["response"]["body"] == {"error": "out of credit"}
    assert "blocked_by" not in event_for(sandbox[0], allowed)


def test_events_queued_just_before_shutdown_are_delivered_by_the_lifespan_flush(
    tmp_path: Path,
) -> None:
    collector = Collector()
    with collector.serve() as base_url:
        # A minute between flushes: only the shutdown can deliver the event in time.
        running = Server(
            base_url,
            collector.application_id,
            tmp_path / "uvicorn.log",
            ASGI_TEST_FLUSH_INTERVAL="60",
        )
        try:
            running.wait_ready(lambda response: response.status_code == 200)
            with httpx.Client(base_url=running.url, timeout=10) as http:
                response = http.post("/items", json={"last": True})
            assert response.status_code == 201
            assert collector.events == []
        finally:
            code = running.stop()
        assert code in GRACEFUL, running.log.read_text()
        tid = response.headers["x-moesif-transaction-id"]
        assert [e["transaction_id"] for e in collector.events] == [tid]


# --- in process: raw ASGI apps, a sync client on the sandbox's transport ---

RawApp = Callable[[Any, Any, Any], Any]


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def client(collector: Collector) -> Iterator[MoesifClient]:
    made = MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=httpx.Client(transport=collector.transport()),
        flush_interval=60,
    )
    yield made
    made.close()


def http_scope(
    path: str = "/", method: str = "GET", headers: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in [("host", "api.test"), *headers]],
        "client": ("203.0.113.9", 50000),
        "server": ("api.test", 80),
    }


class Peer:
    """The server's side of one exchange: the messages it hands over and gets."""

    def __init__(self, body: Sequence[bytes] = (b"",)) -> None:
        self.incoming: deque[dict[str, Any]] = deque(
            {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
            for i, chunk in enumerate(body)
        )
        self.offered = list(self.incoming)
        self.sent: list[MutableMapping[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            return self.incoming.popleft()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def hello(status: int = 200, body: bytes = b"hello") -> RawApp:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported scope {scope['type']}")
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def delivered(client: MoesifClient, collector: Collector) -> list[dict[str, Any]]:
    assert client.flush(5)
    return collector.events


async def test_the_transaction_id_is_a_response_header_and_a_given_one_is_kept(
    client: MoesifClient, collector: Collector
) -> None:
    middleware = MoesifMiddleware(hello(), client=client)
    peer = Peer()
    await middleware(http_scope("/a"), peer.receive, peer.send)
    given = Peer()
    scope = http_scope("/b", headers=[("X-Moesif-Transaction-Id", "abc-123")])
    await middleware(scope, given.receive, given.send)
    assert (peer.status, peer.body) == (200, b"hello")
    assert given.headers["x-moesif-transaction-id"] == "abc-123"
    first, second = delivered(client, collector)
    assert first["transaction_id"] == peer.headers["x-moesif-transaction-id"]
    assert first["request"]["uri"] == "http://api.test/a"
    assert first["request"]["ip_address"] == "203.0.113.9"
    assert decoded(first["response"]["body"]) == b"hello"
    assert second["transaction_id"] == "abc-123"


async def test_the_url_is_the_full_one_without_a_host_header_and_under_a_root_path(
    client: MoesifClient, collector: Collector
) -> None:
    middleware = MoesifMiddleware(hello(), client=client)
    scope = http_scope("/api/v2/items")
    scope.update(
        headers=[], server=("10.0.0.5", 8080), root_path="/api", query_string=b"q=a%20b&x=1"
    )
    peer = Peer()
    await middleware(scope, peer.receive, peer.send)
    del scope["raw_path"]  # a server that gives no raw_path nor root_path in path
    scope.update(path="/v2/caf\u00e9", scheme="https", server=("api.test", 443))
    await middleware(scope, peer.receive, peer.send)
    first, second = delivered(client, collector)
    assert first["request"]["uri"] == "http://10.0.0.5:8080/api/v2/items?q=a%20b&x=1"
    assert second["request"]["uri"] == "https://api.test/api/v2/caf%C3%A9?q=a%20b&x=1"


async def test_an_app_that_raises_before_starting_is_a_500_and_the_error_passes_through(
    client: MoesifClient, collector: Collector
) -> None:
    error = ValueError("broken")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise error

    peer = Peer()
    with pytest.raises(ValueError, match="broken") as raised:
        await MoesifMiddleware(app, client=client)(http_scope(), peer.receive, peer.send)
    assert raised.value is error
    (event,) = delivered(client, collector)
    assert event["response"]["status"] == 500


async def test_an_app_that_raises_midway_is_logged_as_far_as_it_went(
    client: MoesifClient, collector: Collector
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise KeyError("midway")

    peer = Peer()
    with pytest.raises(KeyError):
        await MoesifMiddleware(app, client=client)(http_scope(), peer.receive, peer.send)
    (event,) = delivered(client, collector)
    assert event["response"]["status"] == 200
    assert decoded(event["response"]["body"]) == b"part"


async def test_a_client_disconnect_midway_logs_what_was_sent(
    client: MoesifClient, collector: Collector
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"tick ", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"

    peer = Peer()
    await MoesifMiddleware(app, client=client)(http_scope("/ticks"), peer.receive, peer.send)
    (event,) = delivered(client, collector)
    assert event["response"]["status"] == 200
    assert decoded(event["response"]["body"]) == b"tick "


async def test_each_chunk_passes_through_before_the_app_goes_on(client: MoesifClient) -> None:
    seen_before_next: list[int] = []
    peer = Peer()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": n < 2})
            seen_before_next.append(len(peer.sent))

    await MoesifMiddleware(app, client=client)(http_scope(), peer.receive, peer.send)
    assert seen_before_next == [2, 3, 4]


async def test_websocket_and_other_scopes_pass_through_untouched(
    client: MoesifClient, collector: Collector
) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    middleware = MoesifMiddleware(app, client=client)
    peer = Peer()
    for kind in ("websocket", "something-else"):
        scope = {**http_scope(), "type": kind}
        await middleware(scope, peer.receive, peer.send)
        assert seen[-1] == (scope, peer.receive, peer.send)
    assert delivered(client, collector) == []


class Lifespan:
    """The server's side of the lifespan protocol."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.incoming = deque([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        self.sent: list[str] = []
        self.events_at_shutdown_complete: int | None = None

    async def receive(self) -> dict[str, Any]:
        return self.incoming.popleft()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message["type"])
        if message["type"] == "lifespan.shutdown.complete":
            self.events_at_shutdown_complete = len(self.collector.events)


async def test_lifespan_flushes_even_when_the_app_does_not_implement_it(
    client: MoesifClient, collector: Collector
) -> None:
    middleware = MoesifMiddleware(hello(), client=client)  # raises for non-http scopes
    peer = Peer()
    await middleware(http_scope(), peer.receive, peer.send)
    server = Lifespan(collector)
    await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, server.receive, server.send)
    assert server.sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert server.events_at_shutdown_complete == 1


async def test_lifespan_flushes_after_the_apps_own_shutdown(
    client: MoesifClient, collector: Collector
) -> None:
    done: list[str] = []
    middleware: MoesifMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await hello()(scope, receive, send)
            return
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        # The app's own shutdown still logs a call: the flush comes after it.
        peer = Peer()
        await middleware(http_scope("/during-shutdown"), peer.receive, peer.send)
        done.append("app shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    middleware = MoesifMiddleware(app, client=client)
    server = Lifespan(collector)
    await middleware({"type": "lifespan"}, server.receive, server.send)
    assert server.sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert done == ["app shutdown"]
    assert server.events_at_shutdown_complete == 1


async def test_an_owned_client_comes_from_the_environment_and_is_closed_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector = Collector()
    with collector.serve() as base_url:
        monkeypatch.setenv("MOESIF_APPLICATION_ID", collector.application_id)
        monkeypatch.setenv("MOESIF_BASE_URL", base_url)
        middleware = MoesifMiddleware(hello())
        owned = middleware.client
        assert isinstance(owned, AsyncMoesifClient)
        peer = Peer()
        await middleware(http_scope(), peer.receive, peer.send)
        server = Lifespan(collector)
        await middleware({"type": "lifespan"}, server.receive, server.send)
        assert server.events_at_shutdown_complete == 1
        with pytest.raises(ClientClosedError):
            await owned.create_event(collector.events[0])


async def test_a_given_async_client_is_flushed_and_left_open(collector: Collector) -> None:
    given = AsyncMoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=httpx.AsyncClient(transport=collector.async_transport()),
        flush_interval=60,
    )
    middleware = MoesifMiddleware(hello(), client=given)
    peer = Peer()
    await middleware(http_scope(), peer.receive, peer.send)
    server = Lifespan(collector)
    await middleware({"type": "lifespan"}, server.receive, server.send)
    assert server.events_at_shutdown_complete == 1
    await given.create_event(collector.events[0])  # still open
    await given.aclose()


async def test_failing_hooks_and_capture_never_break_the_request(
    client: MoesifClient,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: object, response: object) -> str:
        raise RuntimeError("hook bug")

    middleware = MoesifMiddleware(hello(), client=client, identify_user=broken, metadata=broken)
    peer = Peer()
    await middleware(http_scope(), peer.receive, peer.send)
    assert (peer.status, peer.body) == (200, b"hello")
    (event,) = delivered(client, collector)
    assert "user_id" not in event

    def explode(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("capture bug")

    for name in ("record", "transaction_id", "governs"):
        with monkeypatch.context() as patch:
            patch.setattr(middleware.capture, name, explode)
            peer = Peer()
            await middleware(http_scope(), peer.receive, peer.send)
            assert (peer.status, peer.body) == (200, b"hello"), name
    assert "capture bug" in caplog.text


def wait_for_rules(client: MoesifClient) -> None:
    client.governance_rules()
    deadline = time.monotonic() + 5
    while not client.governance_rules() or client.app_config().etag is None:
        assert time.monotonic() < deadline, "the rules were not fetched"
        time.sleep(0.005)


BODY_RULES = [
    {
        "_id": "no-deletes",
        "name": "no deletes",
        "type": "regex",
        "block": True,
        "response": {"status": 403, "headers": {}, "body": {"error": "no deletes"}},
        "regex_config": [{"conditions": [{"path": "request.body.action", "value": "^delete$"}]}],
    },
    {
        "_id": "tag",
        "name": "tag every call",
        "type": "regex",
        "block": False,
        "response": {"status": 200, "headers": {"X-Governed": "yes"}},
        "regex_config": [{"conditions": [{"path": "request.verb", "value": "^POST$"}]}],
    },
]


@pytest.mark.parametrize(
    ("max_body_bytes", "chunks"),
    [
        pytest.param(100_000, [b'{"action":', b' "keep", "n": 1', b"}"], id="read-whole"),
        pytest.param(10, [b'{"action":', b' "keep", "pad": "', b"x" * 50, b'"}'], id="read-part"),
        pytest.param(100_000, [b""], id="empty"),
    ],
)
async def test_governing_by_body_replays_the_exact_messages_to_the_app(
    client: MoesifClient, collector: Collector, max_body_bytes: int, chunks: list[bytes]
) -> None:
    collector.rules = BODY_RULES
    wait_for_rules(client)
    got: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            got.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = MoesifMiddleware(app, client=client, max_body_bytes=max_body_bytes)
    peer = Peer(chunks)
    await middleware(http_scope("/things", "POST"), peer.receive, peer.send)
    assert got == peer.offered
    assert (peer.status, peer.headers["x-governed"]) == (200, "yes")
    (event,) = delivered(client, collector)
    assert "blocked_by" not in event


async def test_a_rule_on_the_body_blocks_before_the_app(
    client: MoesifClient, collector: Collector
) -> None:
    collector.rules = BODY_RULES
    wait_for_rules(client)
    called: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    peer = Peer([b'{"action": ', b'"delete"}'])
    await MoesifMiddleware(app, client=client)(http_scope("/x", "POST"), peer.receive, peer.send)
    assert called == []
    assert peer.status == 403
    assert json.loads(peer.body) == {"error": "no deletes"}
    assert peer.headers["content-type"] == "application/json"
    (event,) = delivered(client, collector)
    assert event["blocked_by"] == "no-deletes"
    assert event["transaction_id"] == peer.headers["x-moesif-transaction-id"]
    assert event["request"]["body"] == {"action": "delete"}


def test_an_unknown_option_is_named(client: MoesifClient) -> None:
    with pytest.raises(ValidationError, match="colour"):
        MoesifMiddleware(hello(), client=client, colour="blue")  # type: ignore[call-arg]


async def test_fastapi_add_middleware_logs_an_endpoint_that_raises_as_a_500(
    client: MoesifClient, collector: Collector
) -> None:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    api.add_middleware(MoesifMiddleware, client=client, skip_paths=["/health"])
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    (event,) = delivered(client, collector)
    assert event["response"]["status"] == 500
    assert event["request"]["uri"] == "http://api.test/boom"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_event_has_the_request_headers_as_the_server_gave_them(
    client: MoesifClient, collector: Collector, kind: str
) -> None:
    given: MoesifClient | AsyncMoesifClient = client
    if kind == "async":
        given = AsyncMoesifClient(
            application_id=collector.application_id,
            base_url=collector.base_url,
            http_client=httpx.AsyncClient(transport=collector.async_transport()),
            flush_interval=60,
        )
    inner = hello()

    async def adds_a_header(scope: Any, receive: Any, send: Any) -> None:
        scope["headers"].append((b"x-added-by-the-app", b"1"))  # in place, as some do
        await inner(scope, receive, send)

    middleware = MoesifMiddleware(adds_a_header, client=given, governance=False)
    assert middleware.capture.plain
    for _ in range(2):  # the second time by the C writer, where there is one
        peer = Peer()
        await middleware(http_scope(headers=[("X-Tag", "a")]), peer.receive, peer.send)
    if isinstance(given, AsyncMoesifClient):
        assert await given.flush(5)
        await given.aclose()
    else:
        assert given.flush(5)
    assert len(collector.events) == 2
    for event in collector.events:
        assert event["request"]["headers"] == {"host": "api.test", "x-tag": "a"}


async def test_a_plain_capture_writes_what_a_capture_with_hooks_writes(
    client: MoesifClient, collector: Collector
) -> None:
    plain = MoesifMiddleware(hello(), client=client, governance=False)
    hooked = MoesifMiddleware(
        hello(), client=client, governance=False, metadata=lambda req, resp: None
    )
    assert plain.capture.plain
    assert not hooked.capture.plain
    for middleware in (plain, hooked):
        scope = http_scope()
        scope["headers"] = [
            *scope["headers"],
            (b"authorization", b"Bearer x"),
            (b"X-Tag", b"one"),
            (b"x-tag", b"two"),
        ]
        peer = Peer()
        await middleware(scope, peer.receive, peer.send)
        assert (peer.status, peer.body) == (200, b"hello")
    first, second = delivered(client, collector)
    for event in (first, second):
        del event["transaction_id"], event["response"]["headers"]["x-moesif-transaction-id"]
        del event["request"]["time"], event["response"]["time"]
    assert first == second
    assert first["request"]["headers"]["authorization"] == "***"
    assert first["request"]["headers"]["X-Tag"] == "one, two"
