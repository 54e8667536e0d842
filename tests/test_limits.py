"""The Collector API's limits on one item: an event or action over 1 MB of JSON is refused
before anything is sent, and `truncate_bodies` makes a large event fit."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from clients import Client, call, close
from pytest_httpx import HTTPXMock

import moesifapi
from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AsyncMoesifClient,
    BatchItemTooLargeError,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifClient,
    UserModel,
    ValidationError,
    to_json,
    truncate_bodies,
)
from moesifapi import _constants as constants

BASE = "https://collector.test/v1"
APP_ID = "test-application-id-0123456789"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LIMIT = constants.MAX_EVENT_BYTES


@pytest.fixture
def make_client(kind: str, backoff_sleeps: list[float]) -> Iterator[Callable[..., Client]]:
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


def an_event(body: object = None, response_body: object = None) -> EventModel:
    return EventModel(
        request=EventRequestModel(
            time=NOW, uri="https://api.example.com/upload", verb="PUT", headers={}, body=body
        ),
        response=EventResponseModel(time=NOW, status=200, headers={}, body=response_body),
        transaction_id="t-1",
    )


def an_event_of_size(size: int) -> EventModel:
    """An event whose JSON is exactly `size` bytes."""
    empty = len(to_json(an_event("")))
    return an_event("x" * (size - empty))


def an_action_of_size(size: int) -> ActionModel:
    def action(pad: str) -> ActionModel:
        return ActionModel(
            action_name="Uploaded",
            request=ActionRequestModel(uri="https://app.example.com/"),
            metadata={"pad": pad},
            transaction_id="a-1",
        )

    return action("x" * (size - len(to_json(action("")))))


def test_the_limit_is_the_api_s_one_megabyte_read_as_a_million_bytes() -> None:
    assert constants.MAX_EVENT_BYTES == 1_000_000
    assert constants.TRUNCATED_BODY_BYTES == 450_000
    assert len(to_json(an_event_of_size(LIMIT))) == LIMIT


# --- refused before sending ---


async def test_an_event_at_the_limit_is_sent(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)
    await call(make_client(), "create_event", an_event_of_size(LIMIT))
    assert len(httpx_mock.get_requests()) == 1


async def test_an_event_one_byte_over_the_limit_is_refused_with_its_size(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    with pytest.raises(BatchItemTooLargeError) as caught:
        await call(make_client(), "create_event", an_event_of_size(LIMIT + 1))
    error = caught.value
    assert (error.index, error.size, error.limit) == (0, LIMIT + 1, LIMIT)
    assert error.scope == "single-event"
    assert "1000001 bytes, over the 1000000-byte single-event limit" in str(error)
    assert "truncate_bodies" in str(error)
    assert httpx_mock.get_requests() == []


async def test_a_batch_names_the_first_oversized_event_and_sends_nothing(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    events = [an_event({"n": 0}), an_event_of_size(LIMIT + 10), an_event_of_size(LIMIT + 20)]
    with pytest.raises(BatchItemTooLargeError) as caught:
        # The batch limit is far above the item's: the API's own limit is what refuses it.
        await call(make_client(max_batch_bytes=50_000_000), "create_events_batch", events)
    assert (caught.value.index, caught.value.size) == (1, LIMIT + 10)
    assert caught.value.field == "[1]"
    assert httpx_mock.get_requests() == []


async def test_an_event_batch_as_dicts_is_checked_the_same_way(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    events = [
        json.loads(to_json(an_event({"n": 0}))),
        json.loads(to_json(an_event_of_size(LIMIT + 1))),
    ]
    with pytest.raises(BatchItemTooLargeError) as caught:
        await call(make_client(), "create_events_batch", events)
    assert caught.value.index == 1
    assert httpx_mock.get_requests() == []


async def test_actions_are_held_to_the_same_limit(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    client = make_client()
    with pytest.raises(BatchItemTooLargeError) as caught:
        await call(client, "create_action", an_action_of_size(LIMIT + 1))
    assert caught.value.scope == "single-action"
    with pytest.raises(BatchItemTooLargeError) as caught:
        await call(
            client, "create_actions_batch", [an_action_of_size(10), an_action_of_size(LIMIT + 1)]
        )
    assert caught.value.index == 1
    assert httpx_mock.get_requests() == []


async def test_profiles_have_no_single_item_limit_besides_the_batch_limit(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)
    big = UserModel(user_id="u1", metadata={"pad": "x" * (LIMIT + 100)})
    await call(make_client(), "update_user", big)
    assert len(gzip.decompress(httpx_mock.get_requests()[0].content)) > LIMIT


async def test_queue_event_refuses_an_oversized_event_and_queues_nothing(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    client = make_client()
    with pytest.raises(BatchItemTooLargeError) as caught:
        client.queue_event(an_event_of_size(LIMIT + 1))
    assert (caught.value.index, caught.value.scope) == (0, "single-event")
    with pytest.raises(BatchItemTooLargeError) as caught:
        client.queue_events([an_event({"n": 0}), an_event_of_size(LIMIT + 1)])
    assert (caught.value.index, caught.value.size) == (1, LIMIT + 1)
    with pytest.raises(BatchItemTooLargeError):
        client.queue_action(an_action_of_size(LIMIT + 1))
    assert client.stats.queued == 0
    await close(client)
    assert httpx_mock.get_requests() == []


async def test_truncate_bodies_in_before_send_lets_a_huge_upload_through(
    make_client: Callable[..., Client], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201)

    def before_send(item: Any) -> Any:
        return truncate_bodies(item) if isinstance(item, EventModel) else item

    client = make_client(before_send=before_send)
    assert client.queue_event(an_event(b"\0" * 3_000_000)) is True
    await call(client, "flush", 5.0)
    [request] = httpx_mock.get_requests()
    [sent] = json.loads(gzip.decompress(request.content))
    assert sent["request"]["body"] == {
        "msg": "request.body.length exceeded max_bytes of 450000",
        "original_size": 4_000_002,
    }
    assert "transfer_encoding" not in sent["request"]
    await close(client)


# --- truncate_bodies ---


def test_a_large_request_body_becomes_the_marker_with_its_size() -> None:
    event = an_event({"blob": "x" * 500_000}, response_body={"ok": True})
    size = len(json.dumps({"blob": "x" * 500_000}, separators=(",", ":")))

    truncated = truncate_bodies(event)

    assert truncated.request.body == {
        "msg": "request.body.length exceeded max_bytes of 450000",
        "original_size": size,
    }
    assert truncated.response is not None
    assert truncated.response.body == {"ok": True}
    assert truncated.transaction_id == event.transaction_id


def test_a_large_response_body_is_named_as_the_response_s() -> None:
    truncated = truncate_bodies(an_event(response_body="y" * 100), max_bytes=50)
    assert truncated.response is not None
    assert truncated.response.body == {
        "msg": "response.body.length exceeded max_bytes of 50",
        "original_size": 102,  # the JSON string, in its quotes
    }
    assert truncated.request.body is None


def test_a_bytes_body_is_measured_as_its_base64_and_the_marker_is_json() -> None:
    event = an_event(b"\x00" * 900)
    assert event.request.transfer_encoding == "base64"

    truncated = truncate_bodies(event, max_bytes=1000)

    assert truncated.request.body["original_size"] == 1202  # type: ignore[index]
    assert truncated.request.transfer_encoding is None
    assert json.loads(to_json(truncated))["request"]["body"]["original_size"] == 1202


def test_a_body_at_max_bytes_is_kept() -> None:
    event = an_event("x" * 98)  # 100 bytes of JSON with its quotes
    assert truncate_bodies(event, max_bytes=100) is event
    assert truncate_bodies(event, max_bytes=99).request.body != event.request.body


def test_the_input_event_is_never_changed() -> None:
    event = an_event("x" * 1000, response_body=["y" * 1000])
    before = to_json(event)
    truncated = truncate_bodies(event, max_bytes=10)
    assert to_json(event) == before
    assert truncated is not event
    assert truncated.request is not event.request


def test_an_event_with_no_large_body_is_returned_as_it_is() -> None:
    event = an_event({"n": 1})
    assert truncate_bodies(event) is event
    bare = EventModel(request=EventRequestModel(time=NOW, uri="https://x", verb="GET", headers={}))
    assert truncate_bodies(bare, max_bytes=0) is bare


def test_bodies_are_measured_with_the_encoder_that_sends_them() -> None:
    # Decimal and datetime are not JSON; the wire format writes them as a number and a
    # timestamp string, and that is the size counted.
    event = an_event({"price": Decimal("1.50"), "at": NOW})
    wire = json.loads(to_json(event))["request"]["body"]
    size = len(json.dumps(wire, separators=(",", ":")))
    assert truncate_bodies(event, max_bytes=size) is event
    assert truncate_bodies(event, max_bytes=size - 1).request.body["original_size"] == size  # type: ignore[index]


def test_a_truncated_event_fits_under_the_api_s_limit() -> None:
    event = an_event("x" * 2_000_000, response_body={"rows": ["y" * 100] * 20_000})
    assert len(to_json(truncate_bodies(event))) < LIMIT


@pytest.mark.parametrize("bad", [-1, 1.5, "100", None, True])
def test_max_bytes_must_be_a_whole_number_of_bytes(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        truncate_bodies(an_event("x"), max_bytes=bad)
    assert caught.value.field == "max_bytes"


def test_only_an_event_can_be_truncated() -> None:
    with pytest.raises(ValidationError) as caught:
        truncate_bodies({"request": {}})  # type: ignore[arg-type]
    assert caught.value.field == "event"


def test_an_unencodable_body_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        truncate_bodies(an_event({"tags": {"a", "b"}}))
    assert caught.value.field is not None
    assert caught.value.field.startswith("request.body")


def test_truncate_bodies_is_exported() -> None:
    assert "truncate_bodies" in moesifapi.__all__
    assert moesifapi.truncate_bodies is truncate_bodies
