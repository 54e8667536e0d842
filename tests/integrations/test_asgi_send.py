"""The ASGI adapter's `send`, message by message, in process: what the exchange sees of
each response message and what reaches the server. With the C speed-up `send` is the C
base's for the common shapes of message; `.ci/run` runs this file again with
MOESIFAPI_PURE_PYTHON=1, so the Python path is held to the same expectations."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import httpx
import pytest

from moesifapi import MoesifClient, _wire
from moesifapi.integrations import asgi
from moesifapi.testing import Collector

TID = b"x-moesif-transaction-id"
JSON = (b"content-type", b"application/json")
# What the fake server's send returns, for the app to await.
AWAITABLE: Any = "the server's awaitable"


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def middleware(collector: Collector) -> Iterator[asgi.MoesifMiddleware]:
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as client:
        yield asgi.MoesifMiddleware(_no_app, client=client)


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app is not called here")


class Server:
    """The server's `send`: the messages it was handed, and whether the exchange had
    recorded its event by then."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.recorded_by_then: list[bool] = []
        self.exchange: asgi._Exchange | None = None

    def __call__(self, message: Any) -> Any:
        assert self.exchange is not None
        self.messages.append(message)
        self.recorded_by_then.append(self.exchange.recorded)
        return AWAITABLE


def an_exchange(middleware: asgi.MoesifMiddleware) -> tuple[asgi._Exchange, Server]:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"",
        "headers": [(b"host", b"api.example.com")],
        "client": ("203.0.113.9", 5000),
    }
    server = Server()
    exchange = asgi._Exchange(middleware, scope, _no_receive, server)
    server.exchange = exchange
    return exchange, server


async def _no_receive() -> Any:
    raise AssertionError("nothing is received here")


def events(middleware: asgi.MoesifMiddleware, collector: Collector) -> list[dict[str, Any]]:
    client = middleware.client
    assert isinstance(client, MoesifClient)
    client.flush()
    return collector.events


def test_with_the_speed_up_send_is_the_c_bases() -> None:
    if not _wire.SPEEDUPS:
        pytest.skip("no C speed-up")
    assert asgi._ExchangeBase is not object
    assert type(asgi._Exchange.send).__name__ == "method_descriptor"


def test_a_response_is_seen_chunk_by_chunk_and_recorded_as_its_last_message_goes(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    exchange, server = an_exchange(middleware)
    start = {"type": "http.response.start", "status": 201, "headers": [JSON]}
    first = {"type": "http.response.body", "body": b'{"a":', "more_body": True}
    last = {"type": "http.response.body", "body": b"1}"}

    assert exchange.send(start) is AWAITABLE
    exchange.send(first)
    assert not exchange.finished
    exchange.send(last)

    sent_start, sent_first, sent_last = server.messages
    tid = (TID, exchange.tid.encode())
    assert sent_start == {**start, "headers": [JSON, tid]}
    assert start["headers"] == [JSON]  # the app's own message unchanged
    assert sent_first is first
    assert sent_last is last
    assert server.recorded_by_then == [False, False, True]
    assert (exchange.status, exchange.finished) == (201, True)
    assert exchange.response_headers == [JSON, tid]
    assert exchange.response_tap.captured() == b'{"a":1}'
    (event,) = events(middleware, collector)
    assert event["response"]["status"] == 201
    assert event["response"]["body"] == {"a": 1}
    assert event["request"]["uri"] == "http://api.example.com/items"


def test_a_response_with_trailers_ends_with_its_last_trailers(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    exchange, server = an_exchange(middleware)
    exchange.send({"type": "http.response.start", "status": 200, "trailers": True})
    exchange.send({"type": "http.response.body", "body": b"ok"})
    assert not exchange.finished  # the trailers are still to come
    exchange.send({"type": "http.response.trailers", "headers": [], "more_trailers": True})
    assert not exchange.finished
    exchange.send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})
    assert server.recorded_by_then == [False, False, False, True]
    assert len(events(middleware, collector)) == 1


def test_a_path_sent_ends_the_response(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    exchange, server = an_exchange(middleware)
    exchange.send({"type": "http.response.start", "status": 200, "headers": ()})
    exchange.send({"type": "http.response.pathsend", "path": "/srv/file.txt"})
    assert server.recorded_by_then == [False, True]
    assert exchange.response_headers == [(TID, exchange.tid.encode())]
    assert len(events(middleware, collector)) == 1


class Message(MutableMapping[str, Any]):
    """A message that is a mapping but no dict."""

    def __init__(self, **items: Any) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def test_messages_of_other_shapes_are_read_alike(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    exchange, server = an_exchange(middleware)
    headers = iter([(b"content-type", b"text/plain")])
    exchange.send({"type": "http.response.start", "status": "202", "headers": headers})
    assert exchange.status == 202
    assert exchange.response_headers[0] == (b"content-type", b"text/plain")
    exchange.send(Message(type="http.response.body", body=bytearray(b"ab"), more_body=1))
    assert not exchange.finished  # 1 is true: more is coming
    exchange.send({"type": "http.response.body", "body": memoryview(b"cd"), "more_body": None})
    assert exchange.finished
    assert exchange.recorded
    assert bytes(exchange.response_tap.captured()) == b"abcd"
    assert server.recorded_by_then == [False, False, True]
    assert len(events(middleware, collector)) == 1


def test_a_message_with_no_type_or_another_goes_on_untouched(
    middleware: asgi.MoesifMiddleware,
) -> None:
    exchange, server = an_exchange(middleware)
    untyped = {"status": 200}
    other = {"type": "http.response.debug", "info": {}}
    exchange.send(untyped)
    exchange.send(other)
    assert server.messages[0] is untyped
    assert server.messages[1] is other
    assert (exchange.status, exchange.finished, exchange.recorded) == (None, False, False)


def test_a_start_that_cannot_be_read_is_logged_and_still_sent(
    middleware: asgi.MoesifMiddleware, caplog: pytest.LogCaptureFixture
) -> None:
    exchange, server = an_exchange(middleware)
    broken = {"type": "http.response.start", "headers": []}  # no status
    with caplog.at_level(logging.ERROR, logger="moesifapi"):
        exchange.send(broken)
    assert server.messages == [broken]
    assert "could not read the response start of http://api.example.com/items" in caplog.text
    unreadable = {"type": "http.response.start", "status": 200, "headers": 5}
    exchange.send(unreadable)
    assert server.messages[1] is unreadable


def test_with_the_speed_up_the_common_exchange_is_recorded_in_c(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    if not _wire.SPEEDUPS:
        pytest.skip("no C speed-up")

    class CommonOnly(asgi._Exchange):
        __slots__ = ()

        def _record_now(self, code: int | None, blocked_by: str | None) -> None:
            raise AssertionError("the common exchange took the Python path")

    exchange = CommonOnly(middleware, an_exchange(middleware)[0].scope, _no_receive, Server())
    exchange.record(status=204)
    (event,) = events(middleware, collector)
    assert event["response"]["status"] == 204


class Peer:
    """A scope's client that is a sequence but no tuple or list."""

    def __getitem__(self, index: int) -> str:
        return ["198.51.100.7", "5000"][index]

    def __len__(self) -> int:
        return 2


@pytest.mark.parametrize(
    ("client", "ip"),
    [
        (("203.0.113.9", 5000), "203.0.113.9"),
        (["203.0.113.9", 5000], "203.0.113.9"),
        (Peer(), "198.51.100.7"),
        (None, None),
        ((), None),
    ],
    ids=["tuple", "list", "sequence", "none", "empty"],
)
def test_the_event_names_the_scopes_client(
    middleware: asgi.MoesifMiddleware, collector: Collector, client: Any, ip: str | None
) -> None:
    exchange, _ = an_exchange(middleware)
    exchange.scope["client"] = client
    exchange.send({"type": "http.response.start", "status": 200, "headers": []})
    exchange.send({"type": "http.response.body", "body": b""})
    (event,) = events(middleware, collector)
    assert event["request"].get("ip_address") == ip


def test_record_takes_the_status_and_the_rule_by_name_and_records_once(
    middleware: asgi.MoesifMiddleware, collector: Collector
) -> None:
    exchange, _ = an_exchange(middleware)
    exchange.record(status=500, blocked_by="a rule")
    exchange.record(status=200)
    (event,) = events(middleware, collector)
    assert event["response"]["status"] == 500
    assert event["blocked_by"] == "a rule"
    with pytest.raises(TypeError):
        exchange.record(colour="red")  # type: ignore[call-arg]


def test_a_capture_that_fails_is_logged_and_the_response_goes_on(
    middleware: asgi.MoesifMiddleware,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*parts: object) -> bool:
        raise RuntimeError("the writer broke")

    monkeypatch.setattr(middleware.capture, "record_plain", broken)
    exchange, server = an_exchange(middleware)
    last = {"type": "http.response.body", "body": b"{}"}
    with caplog.at_level(logging.ERROR, logger="moesifapi"):
        exchange.send({"type": "http.response.start", "status": 200, "headers": []})
        assert exchange.send(last) is AWAITABLE
    assert server.messages[-1] is last
    assert exchange.recorded
    assert "could not capture http://api.example.com/items" in caplog.text
    assert "the writer broke" in caplog.text
    assert events(middleware, collector) == []


FIELDS = ("plain", "url", "request_headers", "status", "response_headers")


@pytest.mark.parametrize(
    "headers",
    [
        [(b"host", b"api.example.com"), (b"x-moesif-transaction-id", b"given-id")],
        ((b"Host", b"api.example.com"), (b"X-Moesif-Transaction-Id", b"given-id")),
        [],
        None,
    ],
    ids=["list", "tuple", "empty", "none"],
)
def test_an_exchange_starts_as_the_python_path_starts_it(
    middleware: asgi.MoesifMiddleware, headers: Any
) -> None:
    scope = {**an_exchange(middleware)[0].scope, "headers": headers}
    if headers is None:
        del scope["headers"]
    made = asgi._Exchange(middleware, scope, _no_receive, Server())
    by_python = asgi._Exchange.__new__(asgi._Exchange)
    by_python._init_any(middleware, scope, _no_receive, Server())
    for name in FIELDS:
        assert getattr(made, name) == getattr(by_python, name), name
        assert type(getattr(made, name)) is type(getattr(by_python, name)), name
    assert made.response_tap.limit == by_python.response_tap.limit
    for exchange in (made, by_python):  # the ids are new ones where none was given
        assert exchange.extra_headers == [(TID, exchange.tid.encode())]
    assert (made.finished, made.recorded, made.trailers, made.disconnected) == (
        False,
        False,
        False,
        False,
    )
    if headers and isinstance(headers[0][0], bytes):
        assert made.tid == "given-id"
        assert made.url == "http://api.example.com/items"
        assert made.plain == headers
        if isinstance(headers, list):
            assert made.plain is not headers  # a copy: the app may change the server's


def test_with_the_speed_up_the_common_exchange_starts_in_c(
    middleware: asgi.MoesifMiddleware,
) -> None:
    if not _wire.SPEEDUPS:
        pytest.skip("no C speed-up")

    class CommonOnly(asgi._Exchange):
        __slots__ = ()

        def _init_any(self, *parts: Any) -> None:
            raise AssertionError("the common exchange took the Python path")

    exchange = CommonOnly(middleware, an_exchange(middleware)[0].scope, _no_receive, Server())
    assert exchange.url == "http://api.example.com/items"


def test_an_exchange_with_hooks_starts_with_the_views(collector: Collector) -> None:
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as client:
        middleware = asgi.MoesifMiddleware(
            _no_app, client=client, identify_user=lambda request, response: "u1"
        )
        exchange, _ = an_exchange(middleware)
        assert exchange.plain is None
        assert exchange.request_headers is not None
        assert exchange.request_headers["host"] == "api.example.com"


def test_headers_no_asgi_server_gives_fail_the_capture_alike(
    middleware: asgi.MoesifMiddleware,
) -> None:
    scope = {**an_exchange(middleware)[0].scope, "headers": [("host", "api.example.com")]}
    with pytest.raises(AttributeError):  # `__call__` logs it and serves the app uncaptured
        asgi._Exchange(middleware, scope, _no_receive, Server())
