"""Fixtures for the sandbox collector's tests: one way to send, three ways to reach it.

`send` talks to a collector in process (sync or async httpx transport) or over a real
socket with plain urllib, so one test body checks all three paths behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest

from moesifapi.testing import Collector

APP_ID = "sandbox-app-id"
# Generous bound for any single network step; tests never wait this long when passing.
STEP_TIMEOUT = 10.0

MINIMAL_BODIES: dict[str, dict[str, Any]] = {
    "events": {
        "request": {
            "time": "2024-05-01T12:00:00.000Z",
            "uri": "https://api.example.com/items/1",
            "verb": "GET",
            "headers": {"Accept": "application/json"},
        }
    },
    "actions": {"action_name": "Clicked Sign Up", "request": {"uri": "https://example.com/"}},
    "users": {"user_id": "user-1"},
    "companies": {"company_id": "company-1"},
    "subscriptions": {"subscription_id": "sub-1", "company_id": "company-1"},
}


@dataclass(frozen=True)
class Reply:
    """An answer as any of the three senders saw it; header names lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Sender(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        app_id: str | None = APP_ID,
    ) -> Reply: ...


def _headers(headers: Mapping[str, str] | None, app_id: str | None) -> dict[str, str]:
    merged = {"Content-Type": "application/json"}
    if app_id is not None:
        merged["X-Moesif-Application-Id"] = app_id
    merged.update(headers or {})
    return merged


def _reply(response: httpx.Response) -> Reply:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(response.status_code, headers, response.content)


def sync_transport_sender(collector: Collector) -> Sender:
    def send(
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        app_id: str | None = APP_ID,
    ) -> Reply:
        with httpx.Client(
            transport=collector.transport(), base_url=collector.base_url, timeout=STEP_TIMEOUT
        ) as client:
            response = client.request(method, path, content=body, headers=_headers(headers, app_id))
            return _reply(response)

    return send


def async_transport_sender(collector: Collector) -> Sender:
    async def exchange(
        method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply:
        async with httpx.AsyncClient(
            transport=collector.async_transport(),
            base_url=collector.base_url,
            timeout=STEP_TIMEOUT,
        ) as client:
            return _reply(await client.request(method, path, content=body, headers=headers))

    def send(
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        app_id: str | None = APP_ID,
    ) -> Reply:
        return asyncio.run(exchange(method, path, body, _headers(headers, app_id)))

    return send


def urllib_sender(base_url: str) -> Sender:
    def send(
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        app_id: str | None = APP_ID,
    ) -> Reply:
        request = urllib.request.Request(
            base_url + path, data=body, headers=_headers(headers, app_id), method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=STEP_TIMEOUT) as response:
                return Reply(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read(),
                )
        except urllib.error.HTTPError as error:
            with error:
                return Reply(
                    error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
                )

    return send


@pytest.fixture
def collector(moesif_collector: Collector) -> Collector:
    """The plugin's own fixture, under a shorter name: these tests dogfood it."""
    return moesif_collector


@pytest.fixture(params=["sync-transport", "async-transport", "real-socket"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[[Collector], Sender]]:
    """Makes a Sender for any collector by the parametrized route; servers are
    stopped when the test ends."""
    mode = request.param
    with contextlib.ExitStack() as stack:

        def connect_(target: Collector) -> Sender:
            if mode == "sync-transport":
                return sync_transport_sender(target)
            if mode == "async-transport":
                return async_transport_sender(target)
            return urllib_sender(stack.enter_context(target.serve()))

        yield connect_


@pytest.fixture
def send(collector: Collector, connect: Callable[[Collector], Sender]) -> Sender:
    return connect(collector)


@pytest.fixture
def bodies() -> dict[str, dict[str, Any]]:
    """A minimal valid body per endpoint (fresh copies, safe to modify)."""
    return copy.deepcopy(MINIMAL_BODIES)
