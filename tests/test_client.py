"""MoesifClient and AsyncMoesifClient on the wire: one parametrized test body for both."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from clients import Client, call
from pytest_httpx import HTTPXMock

import moesifapi
from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AppConfig,
    AsyncMoesifClient,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifClient,
    RegexCondition,
    RegexSamplingRule,
    SubscriptionModel,
    UserModel,
    _gzip,
    to_json,
)
from moesifapi import _constants as constants
from moesifapi import _protocol as protocol
from moesifapi.exceptions import MAX_ERROR_BODY_CHARS

BASE = "https://collector.test/v1"
APP_ID = "test-application-id-0123456789"


@pytest.fixture
def sleeps(backoff_sleeps: list[float]) -> list[float]:
    return backoff_sleeps


@pytest.fixture
def make_client(kind: str, sleeps: list[float]) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("application_id", APP_ID)
        kwargs.setdefault("base_url", BASE)
        client: Client = MoesifClient(**kwargs) if kind == "sync" else AsyncMoesifClient(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, MoesifClient):
            client.close()


def body_of(request: httpx.Request) -> Any:
    content = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        content = gzip.decompress(content)
    return json.loads(content)


NOW = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


def an_event(n: int = 0, *, body_size: int = 0) -> EventModel:
    return EventModel(
        request=EventRequestModel(
            time=NOW,
            uri=f"https://api.example.com/items/{n}",
            verb="POST",
            headers={"Content-Type": "application/json", "Accept": "*/*"},
            body={"n": n, "pad": "x" * body_size},
        ),
        response=EventResponseModel(
            time=NOW + timedelta(milliseconds=40), status=201, headers={}, body={"ok": True}
        ),
        user_id=f"user-{n}",
        metadata={"n": n},
    )


def an_action(n: int = 0) -> ActionModel:
    return ActionModel(
        action_name="Clicked Buy", request=ActionRequestModel(uri="https://app.example.com/buy")
    )


def a_user(n: int = 0) -> UserModel:
    return UserModel(user_id=f"user-{n}", metadata={"plan": "free"})


def a_company(n: int = 0) -> CompanyModel:
    return CompanyModel(company_id=f"company-{n}", company_domain="example.com")


def a_subscription(n: int = 0) -> SubscriptionModel:
    return SubscriptionModel(subscription_id=f"sub-{n}", company_id="company-1", status="active")


WRITES = [
    ("create_event", "/events", an_event),
    ("update_user", "/users", a_user),
    ("update_company", "/companies", a_company),
    ("create_action", "/actions", an_action),
    ("update_subscription", "/subscriptions", a_subscription),
]
BATCH_WRITES = [
    ("create_events_batch", "/events/batch", an_event),
    ("update_users_batch", "/users/batch", a_user),
    ("update_companies_batch", "/companies/batch", a_company),
    ("create_actions_batch", "/actions/batch", an_action),
    ("update_subscriptions_batch", "/subscriptions/batch", a_subscription),
]


# --- the wire ---


@pytest.mark.parametrize(("method", "path", "build"), WRITES, ids=[w[0] for w in WRITES])
async def test_each_write_posts_the_model_as_gzipped_json(
    make_client: Callable[..., Client],
    httpx_mock: HTTPXMock,
    method: str,
    path: str,
    build: Callable[[int], Any],
) -> None:
    httpx_mock.add_response(status_code=201, headers={"X-Moesif-Config-ETag": "etag-1"})
    model = build(1)

    result = await call(make_client(), method, model)

    (request,) = httpx_mock.get_requests()
    assert request.method == "POST"
    assert str(request.url) == BASE + path
    assert request.headers["X-Moesif-Application-Id"] == APP_ID
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["User-Agent"].startswith(f"moesifapi-typed/{moesifapi.__version__}")
    assert gzip.decompress(request.content) == to_json(model)
    assert result.status_code == 201
    assert result.config_etag == "etag-1"


@pytest.mark.parametrize(
    ("method", "path", "build"), BATCH_WRITES, ids=[w[0] for w in BATCH_WRITES]
)
async def test_each_batch_write_posts_a_json_array(
    make_client: Callable[..., Client],
    httpx_mock: HTTPXMock,
    method: str,
    path: str,
    build: Callable[[int], Any],
) -> None:
    httpx_mock.add_response(status_code=201)
    models = [build(n) for n in range(3)]

    result = await call(make_client(), method, models)

    (request,) = httpx_mock.get_requests()
    assert str(request.url) == BASE + path
    assert request.headers["X-Moesif-Application-Id"] == APP_ID
    assert gzip.decompress(request.content) == to_json(models)
    assert (result.items, result.requests, result.status_code) == (3, 1, 201)


async def test_plain_dicts_are_sent_like_models(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)
    user = {"user_id": "u1", "modified_time": "2024-05-01T12:00:00", "metadata": {"a": 1}}

    await call(make_client(), "update_user", user)

    assert body_of(httpx_mock.get_requests()[0]) == {
        "user_id": "u1",
        "modified_time": "2024-05-01T12:00:00.000Z",
        "metadata": {"a": 1},
    }


@pytest.mark.parametrize(
    ("method", "item", "field"),
    [
        ("update_user", {"user_id": ""}, "user_id"),
        ("update_user", {"user_id": "u", "userid": "x"}, "userid"),
        ("create_event", {"request": {"uri": "https://x", "verb": "GET"}}, "request.time"),
        ("update_company", {"company_id": "c", "metadata": {"s": {1}}}, "metadata.s"),
        ("update_user", ["not", "a", "dict"], None),
    ],
)
async def test_bad_input_raises_validation_error_and_sends_nothing(
    make_client: Callable[..., Client],
    httpx_mock: HTTPXMock,
    method: str,
    item: object,
    field: str | None,
) -> None:
    with pytest.raises(moesifapi.ValidationError) as caught:
        await call(make_client(), method, item)
    assert caught.value.field == field
    assert httpx_mock.get_requests() == []


async def test_a_bad_item_in_a_batch_is_named_by_index_and_nothing_is_sent(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    users: list[object] = [a_user(0), {"user_id": "ok"}, {"user_id": 7}]
    with pytest.raises(moesifapi.ValidationError) as caught:
        await call(make_client(), "update_users_batch", users)
    assert caught.value.field == "[2].user_id"
    assert httpx_mock.get_requests() == []


async def test_gzip_off_sends_plain_json(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)
    user = a_user()

    await call(make_client(gzip=False), "update_user", user)

    (request,) = httpx_mock.get_requests()
    assert "Content-Encoding" not in request.headers
    assert request.content == to_json(user)


async def test_app_config_is_parsed_with_its_etag(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={"org_id": "o", "app_id": "a", "sample_rate": 50, "new_server_field": [1]},
        headers={"X-Moesif-Config-ETag": "cfg-7"},
    )

    config = await call(make_client(), "get_app_config")

    (request,) = httpx_mock.get_requests()
    assert (request.method, str(request.url)) == ("GET", BASE + "/config")
    assert request.headers["X-Moesif-Application-Id"] == APP_ID
    assert config == AppConfig(
        org_id="o", app_id="a", sample_rate=50, etag="cfg-7", extra={"new_server_field": [1]}
    )


async def test_a_config_with_a_new_key_float_rates_and_regex_rules_reads_typed(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={
            "sample_rate": 50.0,
            "user_sample_rate": {"u1": 10.0},
            "regex_config": [
                {"conditions": [{"path": "request.route", "value": "/health/.*"}], "sample_rate": 0}
            ],
            "a_setting_moesif_adds_next_year": {"on": True},
        }
    )

    config = await call(make_client(), "get_app_config")

    assert config.sample_rate == 50
    assert config.user_sample_rate == {"u1": 10}
    assert config.regex_config == [
        RegexSamplingRule(
            conditions=[RegexCondition(path="request.route", value="/health/.*")], sample_rate=0
        )
    ]
    assert config.extra == {"a_setting_moesif_adds_next_year": {"on": True}}


async def test_a_config_of_the_wrong_shape_is_an_api_error_naming_the_key(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"user_sample_rate": {"u1": "ten"}})

    with pytest.raises(moesifapi.APIError, match=r"user_sample_rate\.u1"):
        await call(make_client(), "get_app_config")


async def test_governance_rules_are_a_sequence_with_their_tag(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json=[{"_id": "r1", "name": "block", "block": True}, {"_id": "r2", "type": "regex"}],
        headers={"X-Moesif-Rules-Tag": "rules-3"},
    )

    rules = await call(make_client(), "get_governance_rules")

    assert str(httpx_mock.get_requests()[0].url) == BASE + "/rules"
    assert len(rules) == 2
    assert [rule.id for rule in rules] == ["r1", "r2"]
    assert rules[0].block is True
    assert rules.tag == "rules-3"


async def test_governance_rules_read_typed_parts_and_keep_new_keys(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json=[
            {
                "_id": "r1",
                "type": "company",
                "applied_to": "not_matching",
                "variables": [{"name": "0", "path": "body.plan"}],
                "regex_config": [{"conditions": [{"path": "request.verb", "value": "POST"}]}],
                "response": {"status": 402.0, "headers": {"X-Plan": "{{0}}"}, "body": None},
                "priority_added_later": 3,
            }
        ]
    )

    (rule,) = await call(make_client(), "get_governance_rules")

    assert (rule.type, rule.applied_to) == ("company", "not_matching")
    assert rule.variables[0].path == "body.plan"
    assert rule.regex_config[0].conditions[0].value == "POST"
    assert rule.response is not None
    assert (rule.response.status, rule.response.headers) == (402, {"X-Plan": "{{0}}"})
    assert rule.extra == {"priority_added_later": 3}


async def test_an_answer_that_is_not_json_is_an_api_error(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(text="<html>proxy</html>")
    with pytest.raises(moesifapi.APIError, match="not JSON"):
        await call(make_client(), "get_app_config")


# --- status codes and failures ---

STATUS_CLASSES = [
    (400, moesifapi.BadRequestError),
    (401, moesifapi.UnauthorizedError),
    (402, moesifapi.PaymentRequiredError),
    (403, moesifapi.ForbiddenError),
    (404, moesifapi.NotFoundError),
    (405, moesifapi.MethodNotAllowedError),
    (406, moesifapi.NotAcceptableError),
    (410, moesifapi.GoneError),
    (413, moesifapi.PayloadTooLargeError),
    (429, moesifapi.RateLimitError),
    (500, moesifapi.InternalServerError),
    (502, moesifapi.BadGatewayError),
    (503, moesifapi.ServiceUnavailableError),
    (504, moesifapi.GatewayTimeoutError),
    (418, moesifapi.ClientError),
    (599, moesifapi.ServerError),
]


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES)
async def test_each_status_raises_its_class(
    make_client: Callable[..., Client],
    httpx_mock: HTTPXMock,
    status: int,
    error_class: type[moesifapi.APIStatusError],
) -> None:
    httpx_mock.add_response(status_code=status, json={"message": "nope"})

    with pytest.raises(error_class) as caught:
        await call(make_client(max_retries=0), "update_user", a_user())

    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.response.status_code == status
    assert json.loads(error.body) == {"message": "nope"}
    assert isinstance(error, moesifapi.APIStatusError)
    base = moesifapi.ClientError if status < 500 else moesifapi.ServerError
    assert isinstance(error, base)


async def test_a_long_error_body_is_truncated(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=400, text="e" * 100_000)
    with pytest.raises(moesifapi.BadRequestError) as caught:
        await call(make_client(), "update_user", a_user())
    assert len(caught.value.body) == MAX_ERROR_BODY_CHARS
    assert len(str(caught.value)) < 500


@pytest.mark.parametrize(
    ("raw", "error_class"),
    [
        (httpx.ConnectError("refused"), moesifapi.APIConnectionError),
        (httpx.RemoteProtocolError("server hung up"), moesifapi.APIConnectionError),
        (httpx.ReadTimeout("slow"), moesifapi.APITimeoutError),
        (httpx.ConnectTimeout("slow"), moesifapi.APITimeoutError),
    ],
)
async def test_network_failures_raise_typed_errors_not_httpx_ones(
    make_client: Callable[..., Client],
    httpx_mock: HTTPXMock,
    raw: httpx.HTTPError,
    error_class: type[moesifapi.APIError],
) -> None:
    httpx_mock.add_exception(raw)
    with pytest.raises(error_class) as caught:
        await call(make_client(max_retries=0), "create_event", an_event())
    assert not isinstance(caught.value, httpx.HTTPError)
    assert caught.value.__cause__ is raw


# --- retries ---

RETRIED = [408, 429, 500, 502, 503, 504]
NOT_RETRIED = [400, 401, 402, 403, 404, 405, 406, 410, 413, 418, 501]


@pytest.mark.parametrize("status", RETRIED)
async def test_retryable_statuses_are_tried_max_retries_plus_one_times(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float], status: int
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=status)
    with pytest.raises(moesifapi.APIStatusError):
        await call(make_client(max_retries=2), "update_user", a_user())
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", NOT_RETRIED)
async def test_other_client_errors_are_not_retried(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float], status: int
) -> None:
    httpx_mock.add_response(status_code=status)
    with pytest.raises(moesifapi.APIStatusError):
        await call(make_client(max_retries=3), "update_user", a_user())
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []


async def test_connection_errors_and_timeouts_are_retried_then_succeed(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(status_code=201)

    result = await call(make_client(), "create_event", an_event())

    assert result.status_code == 201
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps) == 2


async def test_max_retries_zero_disables_retries(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=503)
    with pytest.raises(moesifapi.ServiceUnavailableError):
        await call(make_client(max_retries=0), "update_user", a_user())
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []


async def test_retry_after_seconds_is_honoured(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(status_code=201)
    await call(make_client(), "update_user", a_user())
    assert sleeps == [7.0]


async def test_retry_after_is_capped(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "86400"})
    httpx_mock.add_response(status_code=201)
    await call(make_client(), "update_user", a_user())
    assert sleeps == [constants.MAX_RETRY_AFTER]


async def test_the_transaction_id_is_the_same_on_every_attempt(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(status_code=502)
    httpx_mock.add_response(status_code=201)

    event = moesifapi.to_dict(an_event())
    del event["transaction_id"]  # the client makes one, once, before the first attempt

    await call(make_client(), "create_event", event)

    ids = {body_of(request)["transaction_id"] for request in httpx_mock.get_requests()}
    assert len(httpx_mock.get_requests()) == 3
    assert len(ids) == 1


# --- batches ---


async def test_batches_over_the_limit_are_split_in_order_under_the_limit(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    limit = 8 * 1024
    httpx_mock.add_response(status_code=201, is_reusable=True)
    events = [an_event(n, body_size=n % 300) for n in range(200)]

    result = await call(make_client(max_batch_bytes=limit), "create_events_batch", events)

    requests = httpx_mock.get_requests()
    assert len(requests) > 1
    assert (result.items, result.requests) == (200, len(requests))
    sent = []
    for request in requests:
        raw = gzip.decompress(request.content)
        assert len(raw) <= limit
        sent.extend(json.loads(raw))
    assert [event["user_id"] for event in sent] == [f"user-{n}" for n in range(200)]
    assert sent == json.loads(to_json(events))


async def test_thirty_megabytes_of_events_go_as_several_requests_under_the_default_limit(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201, is_reusable=True)
    events = [an_event(n, body_size=3000) for n in range(10_000)]
    assert len(to_json(events)) > 30 * 1024 * 1024

    result = await call(make_client(), "create_events_batch", events)

    requests = httpx_mock.get_requests()
    assert result.requests == len(requests) >= 3
    sizes = [len(gzip.decompress(request.content)) for request in requests]
    assert all(size <= constants.DEFAULT_MAX_BATCH_BYTES for size in sizes)
    ids = [e["user_id"] for r in requests for e in json.loads(gzip.decompress(r.content))]
    assert ids == [f"user-{n}" for n in range(10_000)]


async def test_an_item_too_large_alone_is_rejected_before_anything_is_sent(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    events = [an_event(0), an_event(1, body_size=5000), an_event(2)]
    with pytest.raises(moesifapi.BatchItemTooLargeError) as caught:
        await call(make_client(max_batch_bytes=4096), "create_events_batch", events)
    assert caught.value.index == 1
    assert caught.value.field == "[1]"
    assert httpx_mock.get_requests() == []


async def test_a_failing_later_sub_batch_reports_what_was_and_was_not_delivered(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    answered: dict[str, int] = {}  # user_id -> status its request got

    def answer(request: httpx.Request) -> httpx.Response:
        status = 503 if len(httpx_mock.get_requests()) == 2 else 201
        for event in json.loads(gzip.decompress(request.content)):
            answered[event["user_id"]] = status
        return httpx.Response(status)

    httpx_mock.add_callback(answer, is_reusable=True)
    events = [an_event(n, body_size=1000) for n in range(8)]
    client = make_client(max_batch_bytes=4096, max_retries=0)

    with pytest.raises(moesifapi.PartialBatchError) as caught:
        await call(client, "create_events_batch", events)

    error = caught.value
    # Delivered: exactly what the server accepted; undelivered: the failed sub-batch and
    # any not sent after it. Both in the caller's order, together all of the items.
    assert list(error.delivered) == [e for e in events if answered.get(e.user_id) == 201]
    assert list(error.undelivered) == [e for e in events if answered.get(e.user_id) != 201]
    assert any(answered.get(e.user_id) == 503 for e in error.undelivered)
    assert isinstance(error.__cause__, moesifapi.ServiceUnavailableError)


async def test_the_async_client_sends_sub_batches_concurrently(httpx_mock: HTTPXMock) -> None:
    gate = asyncio.Event()
    waiting = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal waiting
        waiting += 1
        if waiting == constants.MAX_CONCURRENT_SUB_BATCHES:
            gate.set()  # only reached if that many requests are in flight together
        await asyncio.wait_for(gate.wait(), timeout=10)
        return httpx.Response(201)

    httpx_mock.add_callback(answer, is_reusable=True)
    events = [an_event(n, body_size=1000) for n in range(40)]
    async with AsyncMoesifClient(
        application_id=APP_ID, base_url=BASE, max_batch_bytes=4096
    ) as client:
        result = await client.create_events_batch(events)
    assert result.requests > constants.MAX_CONCURRENT_SUB_BATCHES
    assert gate.is_set()


async def test_a_failing_first_sub_batch_raises_the_failure_itself(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=401)
    with pytest.raises(moesifapi.UnauthorizedError):
        await call(make_client(max_batch_bytes=4096), "create_events_batch", [an_event()] * 5)


async def test_an_empty_batch_sends_nothing(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    result = await call(make_client(), "update_users_batch", [])
    assert (result.items, result.requests, result.status_code) == (0, 0, None)
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("sizes", "limit", "expected"),
    [
        ([], 100, []),
        ([10], 12, [(0, 1)]),
        ([4, 4, 4], 11, [(0, 2), (2, 3)]),
        ([4, 4, 4], 16, [(0, 3)]),
        ([4, 4, 4], 6, [(0, 1), (1, 2), (2, 3)]),
    ],
)
def test_split_into_batches_table(
    sizes: list[int], limit: int, expected: list[tuple[int, int]]
) -> None:
    assert protocol.split_into_batches(sizes, limit) == expected


# --- construction and settings ---


async def test_missing_application_id_is_a_validation_error(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOESIF_APPLICATION_ID", raising=False)
    cls = MoesifClient if kind == "sync" else AsyncMoesifClient
    with pytest.raises(moesifapi.ValidationError) as caught:
        cls()
    assert caught.value.field == "application_id"
    assert "MOESIF_APPLICATION_ID" in str(caught.value)


async def test_settings_fall_back_to_the_environment(
    kind: str, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    monkeypatch.setenv("MOESIF_APPLICATION_ID", "from-env")
    monkeypatch.setenv("MOESIF_BASE_URL", "http://127.0.0.1:9/v1/")
    httpx_mock.add_response(status_code=201)
    client = MoesifClient() if kind == "sync" else AsyncMoesifClient()

    await call(client, "update_user", a_user())

    (request,) = httpx_mock.get_requests()
    assert str(request.url) == "http://127.0.0.1:9/v1/users"
    assert request.headers["X-Moesif-Application-Id"] == "from-env"


def test_the_default_base_url_is_moesif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOESIF_BASE_URL", raising=False)
    assert "'https://api.moesif.net/v1'" in repr(MoesifClient(application_id=APP_ID))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"max_batch_bytes": 10}, "max_batch_bytes"),
        ({"application_id": "  "}, "application_id"),
    ],
)
def test_bad_settings_are_rejected_at_construction(kwargs: dict[str, Any], field: str) -> None:
    kwargs.setdefault("application_id", APP_ID)
    for cls in (MoesifClient, AsyncMoesifClient):
        with pytest.raises(moesifapi.ValidationError) as caught:
            cls(**kwargs)
        assert caught.value.field == field


def test_repr_masks_the_application_id(make_client: Callable[..., Client]) -> None:
    text = repr(make_client())
    assert APP_ID not in text
    assert "test****" in text


async def test_two_clients_keep_their_own_application_ids(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201, is_reusable=True)
    first, second = make_client(application_id="app-one"), make_client(application_id="app-two")

    await call(first, "update_user", a_user())
    await call(second, "update_user", a_user())
    await call(first, "update_user", a_user())

    ids = [r.headers["X-Moesif-Application-Id"] for r in httpx_mock.get_requests()]
    assert ids == ["app-one", "app-two", "app-one"]


async def test_a_callers_http_client_is_used_and_left_open(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201, is_reusable=True)
    with httpx.Client() as http:
        with MoesifClient(application_id=APP_ID, base_url=BASE, http_client=http) as client:
            client.update_user(a_user())
        assert not http.is_closed
    async with httpx.AsyncClient() as ahttp:
        async with AsyncMoesifClient(
            application_id=APP_ID, base_url=BASE, http_client=ahttp
        ) as aclient:
            await aclient.update_user(a_user())
        assert not ahttp.is_closed
    assert len(httpx_mock.get_requests()) == 2


def test_both_clients_offer_the_same_methods_with_the_same_signatures() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in ("close", "aclose")
        }

    sync_methods, async_methods = public(MoesifClient), public(AsyncMoesifClient)
    assert sync_methods.keys() == async_methods.keys()
    assert {"create_event", "queue_event", "flush", "get_app_config"} <= sync_methods.keys()
    assert isinstance(inspect.getattr_static(AsyncMoesifClient, "stats"), property)
    for name in sync_methods:
        # Queueing never waits for the network, and the held config and rules are
        # returned at once, so those are plain calls on both clients.
        is_plain = name.startswith("queue_") or name in ("app_config", "governance_rules")
        assert inspect.iscoroutinefunction(getattr(AsyncMoesifClient, name)) != is_plain, name
        sync_params = list(sync_methods[name].parameters)
        assert sync_params == list(async_methods[name].parameters), name
    assert inspect.signature(MoesifClient.__init__).parameters.keys() == (
        inspect.signature(AsyncMoesifClient.__init__).parameters.keys()
    )


# --- compatibility with the seed's Python examples ---


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_the_seed_python_event_example_runs_with_only_import_changes(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(status_code=201)
    # From the API reference's Python tab; only the imports differ (and a missing comma
    # in the seed's response headers JSON is restored).
    from datetime import datetime, timedelta

    from moesifapi import (
        APIHelper,
        EventModel,
        EventRequestModel,
        EventResponseModel,
        MoesifAPIClient,
    )

    my_application_id = APP_ID
    client = MoesifAPIClient(my_application_id, base_url=BASE)
    api = client.api

    req_headers = APIHelper.json_deserialize("""  {
      "Host": "api.acmeinc.com",
      "Accept": "*/*",
      "Connection": "Keep-Alive",
      "Content-Type": "application/json",
      "Content-Length": "126",
      "Accept-Encoding": "gzip"
    } """)
    req_body = APIHelper.json_deserialize("""{"items": [{"type": 1, "id": "fwfrf"}]}""")
    rsp_headers = APIHelper.json_deserialize("""  {
        "Date": "Tue, 23 Oct 2017 23:46:49 GMT",
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-cache"
      } """)
    rsp_body = APIHelper.json_deserialize("""{"Error": "InvalidArgumentException"}""")

    event_req = EventRequestModel(
        time=datetime.utcnow() - timedelta(seconds=-1),
        uri="https://api.acmeinc.com/items/reviews/",
        verb="PATCH",
        api_version="1.1.0",
        ip_address="61.48.220.123",
        headers=req_headers,  # type: ignore[arg-type]
        body=req_body,
    )
    event_rsp = EventResponseModel(
        time=datetime.utcnow(),
        status=500,
        headers=rsp_headers,  # type: ignore[arg-type]
        body=rsp_body,
    )
    event_model = EventModel(
        request=event_req, response=event_rsp, user_id="my_user_id", session_token="tok"
    )
    api.create_event(event_model)
    api.close()

    sent = body_of(httpx_mock.get_requests()[0])
    assert sent["request"]["verb"] == "PATCH"
    assert sent["response"]["status"] == 500
    assert sent["request"]["time"].endswith("Z")


@pytest.mark.parametrize("level", [1, 9])
async def test_gzip_level_sets_the_compression_and_the_body_is_the_same(
    make_client: Callable[..., Client], level: int, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)
    client = make_client(gzip_level=level)
    events = [an_event(n) for n in range(50)]
    await call(client, "create_events_batch", events)
    [sent] = httpx_mock.get_requests()
    raw = sent.content
    expected = _gzip.compress(gzip.decompress(raw), level)
    assert raw == expected
    if level > 1 or not _gzip.ISAL:  # zlib's bytes
        assert raw == gzip.compress(gzip.decompress(raw), compresslevel=level, mtime=0)
    assert json.loads(gzip.decompress(raw))[0]["transaction_id"] == events[0].transaction_id


@pytest.mark.parametrize("level", [0, 10, True, "6"])
def test_gzip_level_out_of_range_is_a_validation_error(level: object) -> None:
    for make in (MoesifClient, AsyncMoesifClient):
        with pytest.raises(moesifapi.ValidationError) as raised:
            make(application_id=APP_ID, base_url=BASE, gzip_level=level)  # type: ignore[arg-type]
        assert raised.value.field == "gzip_level"
