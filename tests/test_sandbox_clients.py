"""The sandbox's validation rules and faults, seen through our clients' typed exceptions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clients import Client, call

import moesifapi
from moesifapi import AsyncMoesifClient, MoesifClient
from moesifapi import _protocol as protocol
from moesifapi.testing import Collector

APP_ID = "sandbox-clients-app-id"

EVENT = {
    "request": {
        "time": "2024-05-01T12:00:00Z",
        "uri": "https://api.example.com/a",
        "verb": "GET",
        "headers": {},
    }
}


pytestmark = pytest.mark.usefixtures("backoff_sleeps")


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID, max_body_bytes=64 * 1024)


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, collector: Collector
) -> Iterator[Callable[..., Client]]:
    """A client talking to the sandbox in process, through its httpx transports."""
    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("application_id", APP_ID)
        kwargs.setdefault("base_url", collector.base_url)
        client: Client
        if request.param == "sync":
            client = MoesifClient(
                http_client=httpx.Client(transport=collector.transport()), **kwargs
            )
        else:
            client = AsyncMoesifClient(
                http_client=httpx.AsyncClient(transport=collector.async_transport()), **kwargs
            )
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, MoesifClient):
            client.close()


async def send_raw(client: Client, path: str, body: bytes) -> Any:
    """Bypass our own validation to see how the sandbox answers a bad body."""
    planned = protocol.PlannedRequest(
        "POST",
        path,
        client._core.settings.base_url + path,
        {"X-Moesif-Application-Id": APP_ID, "Content-Type": "application/json"},
        body,
    )
    return await call(client, "_drive", client._engine.deliver(planned))


async def test_a_wrong_application_id_is_unauthorized(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    with pytest.raises(moesifapi.UnauthorizedError) as caught:
        await call(make_client(application_id="someone-else"), "create_event", EVENT)
    assert caught.value.status_code == 401
    assert collector.events == []


async def test_malformed_json_is_a_bad_request_naming_the_problem(
    make_client: Callable[..., Client],
) -> None:
    with pytest.raises(moesifapi.BadRequestError) as caught:
        await send_raw(make_client(), "/events", b'{"request": ')
    assert "JSON" in caught.value.body


async def test_a_missing_field_is_a_bad_request_naming_the_field(
    make_client: Callable[..., Client],
) -> None:
    with pytest.raises(moesifapi.BadRequestError) as caught:
        await send_raw(make_client(), "/events/batch", b'[{"request": {"uri": "https://x"}}]')
    assert "[0].request.time" in caught.value.body


async def test_a_body_over_the_sandbox_limit_is_payload_too_large(
    make_client: Callable[..., Client],
) -> None:
    big = {"user_id": "u", "metadata": {"blob": "x" * 100_000}}
    with pytest.raises(moesifapi.PayloadTooLargeError):
        await call(make_client(gzip=False), "update_user", big)


async def test_an_unknown_path_is_not_found(make_client: Callable[..., Client]) -> None:
    client = make_client(base_url=Collector(application_id=APP_ID).base_url + "/nope")
    with pytest.raises(moesifapi.NotFoundError):
        await call(client, "update_user", {"user_id": "u"})


async def test_fail_next_with_retry_after_is_retried_as_asked(
    make_client: Callable[..., Client], collector: Collector, backoff_sleeps: list[float]
) -> None:
    collector.fail_next(2, status=429, retry_after=3)
    await call(make_client(), "update_user", {"user_id": "u1"})
    assert backoff_sleeps == [3.0, 3.0]
    assert list(collector.users) == ["u1"]


async def test_fail_next_beyond_the_retries_raises_the_status_class(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.fail_next(1, status=503)
    with pytest.raises(moesifapi.ServiceUnavailableError):
        await call(make_client(max_retries=0), "update_user", {"user_id": "u1"})
    assert collector.users == {}


async def test_a_dropped_connection_is_a_connection_error(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.drop_next(1)
    with pytest.raises(moesifapi.APIConnectionError) as caught:
        await call(make_client(max_retries=0), "create_event", EVENT)
    assert not isinstance(caught.value, moesifapi.APITimeoutError)


async def test_a_dropped_connection_is_retried_and_delivered_once(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.drop_next(2)
    await call(make_client(), "create_event", EVENT)
    assert len(collector.events) == 1


async def test_latency_beyond_the_timeout_is_a_timeout_error(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.latency = 5.0
    with pytest.raises(moesifapi.APITimeoutError):
        await call(make_client(timeout=0.05, max_retries=0), "update_user", {"user_id": "u"})


async def test_a_held_request_times_out_on_the_client(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.hold()
    try:
        with pytest.raises(moesifapi.APITimeoutError):
            await call(make_client(timeout=0.05, max_retries=0), "update_user", {"user_id": "u"})
    finally:
        collector.release()


async def test_random_failures_are_ridden_out_by_retries(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.fail_randomly(0.3, status=502, seed=1)
    client = make_client(max_retries=10)
    for n in range(40):
        await call(client, "update_user", {"user_id": f"u{n}"})
    assert len(collector.users) == 40
    assert any(r.status == 502 for r in collector.requests)


async def test_config_and_rules_set_on_the_sandbox_are_read_back_typed(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.config = {**collector.config, "sample_rate": 25}
    collector.rules = [{"_id": "r1", "name": "block bots", "block": True, "type": "regex"}]
    client = make_client()

    config = await call(client, "get_app_config")
    rules = await call(client, "get_governance_rules")

    assert config.sample_rate == 25
    assert config.etag == collector.config_etag
    assert [(r.id, r.block) for r in rules] == [("r1", True)]
    assert rules.tag == collector.rules_tag


GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


async def test_the_references_span_event_arrives_with_its_span_under_parent_id(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    sent = golden("event_with_span.json")

    await call(make_client(), "create_event", sent)

    (stored,) = collector.events
    assert stored["span"] == {"id": "00f067aa0ba902b7", "parent_id": "b3c3f3c3f3c3f3c3"}
    assert stored["transaction_id"] == sent["transaction_id"]
    assert stored["request"]["body"] == sent["request"]["body"]
    assert stored["metadata"] == sent["metadata"]


async def test_the_references_subscriptions_and_actions_arrive_unchanged(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    sent_subscriptions = golden("subscriptions_batch.json")
    sent_actions = golden("actions_batch.json")
    client = make_client()

    await call(client, "update_subscriptions_batch", sent_subscriptions)
    await call(client, "create_actions_batch", sent_actions)

    stored = collector.subscriptions
    assert stored["12345"]["items"] == [{"plan_id": "my_custom_plan"}]
    for sent in sent_subscriptions:
        assert {key: stored[sent["subscription_id"]][key] for key in sent} == sent
    arrived = [
        {key: action[key] for key in sent}
        for action, sent in zip(collector.actions, sent_actions, strict=True)
    ]
    assert arrived == sent_actions


async def test_a_sandbox_config_with_float_rates_and_a_new_key_reads_typed(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.config = {
        **collector.config,
        "sample_rate": 50.0,
        "regex_config": [
            {"conditions": [{"path": "request.verb", "value": "GET"}], "sample_rate": 20.0}
        ],
        "new_key": 1,
    }

    config = await call(make_client(), "get_app_config")

    assert config.sample_rate == 50
    assert config.regex_config[0].conditions[0].path == "request.verb"
    assert config.regex_config[0].sample_rate == 20
    assert config.extra == {"new_key": 1}


async def test_two_partial_user_updates_merge_like_the_api_reference_says(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    client = make_client()
    await call(
        client,
        "update_user",
        {
            "user_id": "u1",
            "session_token": "token-1",
            "metadata": {"email": "a@example.com", "address": {"city": "Paris", "zip": "75001"}},
        },
    )
    await call(
        client,
        "update_user",
        {
            "user_id": "u1",
            "session_token": "token-2",
            "company_id": "acme",
            "metadata": {"plan": "pro", "address": {"city": "Lyon"}},
        },
    )

    profile = collector.users["u1"]
    assert profile["company_id"] == "acme"
    assert profile["metadata"] == {
        "email": "a@example.com",
        "plan": "pro",
        "address": {"city": "Lyon", "zip": "75001"},
    }
    assert collector.user_session_tokens("u1") == ["token-1", "token-2"]
