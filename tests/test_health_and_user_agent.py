"""The health probe (`check_health`) and the `user_agent_suffix` option, on both clients."""

from __future__ import annotations

import platform
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from clients import Client, call, close
from pytest_httpx import HTTPXMock

import moesifapi
from moesifapi import (
    APIError,
    AsyncMoesifClient,
    Health,
    MoesifAPIClient,
    MoesifClient,
    ServiceUnavailableError,
    ValidationError,
)
from moesifapi.testing import Collector

pytestmark = pytest.mark.usefixtures("backoff_sleeps")

DEFAULT_AGENT = (
    f"moesifapi-typed/{moesifapi.__version__} "
    f"python/{platform.python_version()} httpx/{httpx.__version__}"
)
A_USER = {"user_id": "user-1"}


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
async def make_client(kind: str, collector: Collector) -> AsyncIterator[Callable[..., Client]]:
    """A client of `kind` talking to the sandbox in process, closed after the test."""
    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("application_id", collector.application_id)
        kwargs.setdefault("base_url", collector.base_url)
        client: Client
        if kind == "sync":
            http = httpx.Client(transport=collector.transport())
            client = MoesifClient(http_client=http, **kwargs)
        else:
            ahttp = httpx.AsyncClient(transport=collector.async_transport())
            client = AsyncMoesifClient(http_client=ahttp, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await close(client)


def make_plain(kind: str, **kwargs: Any) -> Client:
    return MoesifClient(**kwargs) if kind == "sync" else AsyncMoesifClient(**kwargs)


# --- the health probe ---


async def test_check_health_reads_the_sandbox_probe(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    health = await call(make_client(), "check_health")
    assert health == Health(status=True, region="sandbox")
    [probe] = collector.requests
    assert (probe.method, probe.path, probe.status) == ("GET", "/health/probe", 200)


async def test_check_health_reads_the_sandbox_server_over_a_socket(
    kind: str, collector: Collector
) -> None:
    with collector.serve() as base_url:
        client = make_plain(kind, application_id=collector.application_id, base_url=base_url)
        try:
            health = await call(client, "check_health")
        finally:
            await close(client)
    assert (health.status, health.region) == (True, "sandbox")
    assert [r.path for r in collector.requests] == ["/health/probe"]


@pytest.mark.parametrize(
    ("base_url", "probe_url"),
    [
        ("https://api.moesif.net/v1", "https://api.moesif.net/health/probe"),
        ("https://api.moesif.net/v1/", "https://api.moesif.net/health/probe"),
        ("https://gateway.example.com/moesif/v1", "https://gateway.example.com/health/probe"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/health/probe"),
    ],
)
async def test_the_probe_is_at_the_host_root_not_under_v1(
    kind: str, httpx_mock: HTTPXMock, base_url: str, probe_url: str
) -> None:
    httpx_mock.add_response(url=probe_url, json={"status": True, "region": "us-west-2"})
    client = make_plain(kind, application_id="app-id", base_url=base_url)
    try:
        health = await call(client, "check_health")
    finally:
        await close(client)
    assert health == Health(status=True, region="us-west-2")
    [request] = httpx_mock.get_requests()
    assert request.method == "GET"
    assert request.headers["X-Moesif-Application-Id"] == "app-id"


async def test_a_health_answer_keeps_keys_it_does_not_know_and_needs_no_region(
    kind: str, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"status": False, "checked_at": "2024-05-01T12:00:00Z"})
    client = make_plain(kind, application_id="app-id")
    try:
        health = await call(client, "check_health")
    finally:
        await close(client)
    assert (health.status, health.region) == (False, "")
    assert health.extra == {"checked_at": "2024-05-01T12:00:00Z"}


@pytest.mark.parametrize(
    "answer",
    [[], {"region": "us-west-2"}, {"status": "yes"}, {"status": True, "region": 5}],
    ids=["array", "no-status", "status-not-bool", "region-not-str"],
)
async def test_a_health_answer_of_another_shape_is_an_api_error(
    kind: str, httpx_mock: HTTPXMock, answer: object
) -> None:
    httpx_mock.add_response(json=answer)
    client = make_plain(kind, application_id="app-id")
    try:
        with pytest.raises(APIError, match="health"):
            await call(client, "check_health")
    finally:
        await close(client)


async def test_a_failing_probe_is_retried_then_raises_the_status_error(
    make_client: Callable[..., Client], collector: Collector, backoff_sleeps: list[float]
) -> None:
    collector.fail_next(4, status=503)
    with pytest.raises(ServiceUnavailableError):
        await call(make_client(), "check_health")
    assert len(collector.requests) == 4
    assert len(backoff_sleeps) == 3


def test_the_sandbox_probe_answers_get_only_and_needs_no_application_id() -> None:
    collector = Collector()
    answer = collector.handle("GET", "/health/probe", {}, b"")
    assert answer.status == 200
    assert collector.handle("POST", "/health/probe", {}, b"").status == 405
    assert collector.handle("GET", "/v1/health/probe", {}, b"").status == 404


def test_the_official_health_controller_answers_the_probe() -> None:
    collector = Collector()
    with collector.serve() as base_url:
        client = MoesifAPIClient(collector.application_id, base_url=base_url)
        try:
            assert client.health.get_health_probe() == Health(status=True, region="sandbox")
        finally:
            client.api.close()


# --- the User-Agent ---


async def test_without_a_suffix_the_user_agent_is_the_default(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    await call(make_client(), "update_user", A_USER)
    assert collector.requests[0].headers["user-agent"] == DEFAULT_AGENT
    assert re.fullmatch(r"moesifapi-typed/\S+ python/\d+\.\d+\.\d+ httpx/\S+", DEFAULT_AGENT)


async def test_a_user_agent_suffix_follows_the_default_after_a_space_on_every_request(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    client = make_client(user_agent_suffix="acme-gateway/2.1 (+https://acme.example)")
    await call(client, "update_user", A_USER)
    await call(client, "get_app_config")
    await call(client, "check_health")
    agents = {r.headers["user-agent"] for r in collector.requests}
    assert agents == {f"{DEFAULT_AGENT} acme-gateway/2.1 (+https://acme.example)"}
    assert len(collector.requests) == 3


def test_the_official_entry_point_takes_a_user_agent_suffix_too() -> None:
    collector = Collector()
    with collector.serve() as base_url:
        client = MoesifAPIClient(
            collector.application_id, base_url=base_url, user_agent_suffix="legacy-app/1"
        )
        try:
            client.api.update_user(A_USER)
        finally:
            client.api.close()
    assert collector.requests[0].headers["user-agent"] == f"{DEFAULT_AGENT} legacy-app/1"


BAD_SUFFIXES = [
    "app/1\r\nX-Injected: yes",
    "app/1\n",
    "tab\tseparated",
    "nul\x00",
    "del\x7f",
    "caf\u00e9/1",
    "",
    "   ",
    5,
    b"app/1",
]


@pytest.mark.parametrize("suffix", BAD_SUFFIXES, ids=repr)
def test_a_bad_user_agent_suffix_is_refused_naming_the_option(kind: str, suffix: object) -> None:
    with pytest.raises(ValidationError, match="user_agent_suffix") as caught:
        make_plain(kind, application_id="app-id", user_agent_suffix=suffix)
    assert caught.value.field == "user_agent_suffix"


def test_the_official_entry_point_refuses_a_bad_suffix_the_same_way() -> None:
    with pytest.raises(ValidationError, match="user_agent_suffix"):
        MoesifAPIClient("app-id", user_agent_suffix="a\r\nb")
