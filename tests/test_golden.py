"""The API reference's own example bodies parse into our models and serialize back unchanged.

The fixtures in tests/golden/ are copied from the reference (see the README there for
the JSON typos fixed). Three differences are expected and checked explicitly: timestamps
go out as UTC with a ``Z``, events without a ``transaction_id`` gain a UUID4 one, and a
span's ``parent_span_id`` (the spelling of the reference's example) goes out as the
``parent_id`` its field table names.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from dateutil.parser import isoparse

from moesifapi import (
    ActionModel,
    EventModel,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    from_dict,
    to_json,
)

GOLDEN = Path(__file__).parent / "golden"

EVENT_TIMES = (("request", "time"), ("response", "time"))
USER_TIMES = (("modified_time",),)


def load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def as_instant(text: str) -> datetime:
    """A wire timestamp as an aware datetime; a naive one means UTC, as the API reads it."""
    value = isoparse(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def times_as_instants(item: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> None:
    for path in paths:
        parent = item
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = as_instant(parent[path[-1]])


def pop_uuid4(item: dict[str, Any]) -> None:
    """Remove the generated transaction_id after checking it is a canonical UUID4."""
    value = item.pop("transaction_id")
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert str(parsed) == value


def test_every_golden_file_is_valid_json() -> None:
    names = sorted(path.name for path in GOLDEN.glob("*.json"))
    assert names == [
        "action.json",
        "actions_batch.json",
        "event.json",
        "event_with_span.json",
        "events_batch.json",
        "subscriptions_batch.json",
        "user.json",
        "users_batch.json",
    ]
    for name in names:
        load(name)


def test_create_an_event_example_round_trips() -> None:
    sent = load("event.json")
    event = from_dict(EventModel, sent)

    out = json.loads(to_json(event))

    pop_uuid4(out)
    assert out["request"]["time"] == "2017-10-22T04:45:42.914Z"
    assert out["response"]["time"] == "2017-10-22T04:45:42.914Z"
    times_as_instants(out, EVENT_TIMES)
    times_as_instants(sent, EVENT_TIMES)
    assert out == sent


def test_create_an_event_example_keeps_the_empty_transfer_encoding() -> None:
    # The reference sends `"transfer_encoding": ""`: a set (if empty) value, not "unset".
    out = json.loads(to_json(from_dict(EventModel, load("event.json"))))

    assert out["request"]["transfer_encoding"] == ""
    assert out["response"]["transfer_encoding"] == ""


def test_create_an_event_example_has_typed_fields() -> None:
    event = from_dict(EventModel, load("event.json"))

    assert event.request.time == datetime(2017, 10, 22, 4, 45, 42, 914000, tzinfo=timezone.utc)
    assert event.request.verb == "POST"
    assert event.request.headers["Content-Length"] == "126"
    assert event.response is not None
    assert event.response.status == 500
    assert event.user_id == "mndug437f43"
    assert event.metadata == {
        "some_string": "I am a string",
        "some_int": 77,
        "some_object": {"some_sub_field": "some_value"},
    }


def test_events_batch_example_round_trips() -> None:
    sent = load("events_batch.json")
    events = [from_dict(EventModel, item) for item in sent]

    out = json.loads(to_json(events))

    assert isinstance(out, list)
    assert len(out) == len(sent) == 1
    for item_out, item_sent in zip(out, sent, strict=True):
        pop_uuid4(item_out)
        times_as_instants(item_out, EVENT_TIMES)
        times_as_instants(item_sent, EVENT_TIMES)
    assert out == sent


@pytest.mark.parametrize("name", ["user.json", "users_batch.json"])
def test_user_examples_round_trip(name: str) -> None:
    sent = load(name)
    items = sent if isinstance(sent, list) else [sent]
    users = [from_dict(UserModel, item) for item in items]

    out = json.loads(to_json(users if isinstance(sent, list) else users[0]))

    out_items = out if isinstance(sent, list) else [out]
    assert len(out_items) == len(items)
    for item_out, item_sent in zip(out_items, items, strict=True):
        assert "transaction_id" not in item_out  # users have none
        assert item_out["modified_time"] == "2017-02-22T04:45:42.914Z"
        times_as_instants(item_out, USER_TIMES)
        times_as_instants(item_sent, USER_TIMES)
    assert out == sent


def test_users_batch_example_keeps_order_and_ids() -> None:
    users = [from_dict(UserModel, item) for item in load("users_batch.json")]

    assert [user.user_id for user in users] == ["12345", "7890"]
    assert [json.loads(to_json(user))["user_id"] for user in users] == ["12345", "7890"]


# --- the current reference (the apidocs repository): spans, actions, subscription items ---


def test_event_with_a_span_example_round_trips_with_parent_id_for_parent_span_id() -> None:
    sent = load("event_with_span.json")
    event = from_dict(EventModel, sent)

    out = json.loads(to_json(event))

    assert out["transaction_id"] == sent["transaction_id"]  # given, so kept
    assert out["span"] == {"id": "00f067aa0ba902b7", "parent_id": "b3c3f3c3f3c3f3c3"}
    sent["span"]["parent_id"] = sent["span"].pop("parent_span_id")
    times_as_instants(out, EVENT_TIMES)
    times_as_instants(sent, EVENT_TIMES)
    assert out == sent


def test_event_with_a_span_example_has_a_typed_span() -> None:
    event = from_dict(EventModel, load("event_with_span.json"))

    assert event.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event.span == SpanModel(id="00f067aa0ba902b7", parent_id="b3c3f3c3f3c3f3c3")


@pytest.mark.parametrize("name", ["action.json", "actions_batch.json"])
def test_action_examples_round_trip(name: str) -> None:
    sent = load(name)
    items = sent if isinstance(sent, list) else [sent]
    actions = [from_dict(ActionModel, item) for item in items]

    out = json.loads(to_json(actions if isinstance(sent, list) else actions[0]))

    assert out == sent  # no timestamps, and the examples bring their transaction ids


def test_subscriptions_batch_example_round_trips_with_its_items() -> None:
    sent = load("subscriptions_batch.json")
    subscriptions = [from_dict(SubscriptionModel, item) for item in sent]

    out = json.loads(to_json(subscriptions))

    assert subscriptions[0].items == [SubscriptionItemModel(plan_id="my_custom_plan")]
    assert out == sent  # its timestamps are already UTC with milliseconds and a Z
