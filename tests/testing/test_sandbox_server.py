"""The sandbox over a real socket: plain urllib, keep-alive, chunked bodies, clean stop.

Everything binds 127.0.0.1 on a free port and every wait has a bound.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from moesifapi.testing import Collector

APP_HEADERS = {"X-Moesif-Application-Id": "sandbox-app-id", "Content-Type": "application/json"}
WAIT = 10.0


def test_serve_yields_a_local_v1_base_url_on_a_free_port(collector: Collector) -> None:
    with collector.serve() as base_url:
        parts = urllib.parse.urlsplit(base_url)

    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/v1")
    assert parts.port is not None
    assert parts.port > 0


def test_plain_urllib_can_send_an_event_and_read_the_config(collector: Collector) -> None:
    event = {
        "request": {
            "time": "2024-05-01T12:00:00Z",
            "uri": "https://api.example.com/",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": "2024-05-01T12:00:00.25Z", "status": 204, "headers": {}},
    }
    with collector.serve() as base_url:
        write = urllib.request.Request(
            base_url + "/events", data=json.dumps(event).encode(), headers=APP_HEADERS
        )
        with urllib.request.urlopen(write, timeout=WAIT) as response:
            assert (response.status, json.load(response)) == (201, {})
        read = urllib.request.Request(base_url + "/config", headers=APP_HEADERS)
        with urllib.request.urlopen(read, timeout=WAIT) as response:
            assert response.headers["X-Moesif-Config-ETag"] == collector.config_etag
            assert json.load(response) == collector.config

    assert collector.events == [event]


def test_one_keep_alive_connection_carries_many_requests(collector: Collector) -> None:
    with collector.serve() as base_url:
        parts = urllib.parse.urlsplit(base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT)
        try:
            sockets = []
            for n in range(3):
                body = json.dumps({"user_id": f"u{n}"})
                connection.request("POST", "/v1/users", body=body, headers=APP_HEADERS)
                response = connection.getresponse()
                assert response.status == 201
                response.read()
                sockets.append(connection.sock)
        finally:
            connection.close()

    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)
    assert sorted(collector.users) == ["u0", "u1", "u2"]


def test_chunked_request_bodies_are_read(collector: Collector) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"user_id": '
        yield b'"chunked"}'

    with collector.serve() as base_url, httpx.Client(base_url=base_url, timeout=WAIT) as client:
        response = client.post("/users", content=chunks(), headers=APP_HEADERS)

    assert response.status_code == 201
    assert list(collector.users) == ["chunked"]
    assert collector.requests[0].headers["transfer-encoding"] == "chunked"


def test_an_oversized_body_gets_413_not_a_reset(collector: Collector) -> None:
    small = Collector(max_body_bytes=100)
    with small.serve() as base_url, httpx.Client(base_url=base_url, timeout=WAIT) as client:
        response = client.post("/users", content=b" " * 5000, headers=APP_HEADERS)

    assert response.status_code == 413
    assert small.requests[0].body == b""  # refused unread, by its Content-Length


def test_stopping_closes_idle_keep_alive_connections_promptly(collector: Collector) -> None:
    with collector.serve() as base_url:
        client = httpx.Client(base_url=base_url, timeout=WAIT)
        assert client.get("/config", headers=APP_HEADERS).status_code == 200
        stopping_started = time.monotonic()

    try:
        assert time.monotonic() - stopping_started < WAIT
        with pytest.raises(httpx.TransportError):
            client.get("/config", headers=APP_HEADERS)
    finally:
        client.close()


def test_a_stopped_server_is_a_closed_port(collector: Collector) -> None:
    with collector.serve() as base_url:
        pass

    with httpx.Client(timeout=WAIT) as client, pytest.raises(httpx.ConnectError):
        client.get(base_url + "/config")


def test_head_requests_get_headers_without_a_body(collector: Collector) -> None:
    with collector.serve() as base_url, httpx.Client(base_url=base_url, timeout=WAIT) as client:
        response = client.head("/events", headers=APP_HEADERS)

    assert response.status_code == 405
    assert response.content == b""
