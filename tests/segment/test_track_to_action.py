"""track -> Moesif action: the destination's Track table and the request it happened in.

Each mapped field has a case, including the URI used when the call names no page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import pytest

from moesifapi import ActionModel, ValidationError, to_dict
from moesifapi.segment import TRACK_FALLBACK_URI_PREFIX, action_from_track


def track(**fields: object) -> dict[str, object]:
    return {"type": "track", "userId": "user-1", "event": "Login Button Clicked", **fields}


def mapped(message: Mapping[str, object]) -> ActionModel:
    action = action_from_track(message)
    assert action is not None
    return action


# --- the destination's Track table: event, properties ---


def test_event_becomes_action_name() -> None:
    assert mapped(track(event="Login Button Clicked")).action_name == "Login Button Clicked"


def test_properties_become_metadata() -> None:
    properties = {"button": "primary", "revenue": 9.99, "items": [{"sku": "a"}]}
    assert mapped(track(properties=properties)).metadata == properties


def test_no_properties_means_no_metadata() -> None:
    assert mapped(track()).metadata is None


@pytest.mark.parametrize("event", [None, "", "  ", 7])
def test_a_track_without_an_event_name_maps_to_no_action(event: object) -> None:
    assert action_from_track(track(event=event)) is None


# --- who and where ---


def test_user_id_becomes_user_id() -> None:
    assert mapped(track(userId="userId123")).user_id == "userId123"


def test_an_anonymous_track_is_an_action_without_a_user() -> None:
    action = mapped({"type": "track", "anonymousId": "anon-1", "event": "Viewed Pricing"})
    assert action.user_id is None


def test_company_ids_in_context_or_properties_are_not_read() -> None:
    message = track(context={"groupId": "c-1"}, properties={"company_id": "c-2"})
    assert mapped(message).company_id is None


def test_the_page_url_becomes_the_request_uri() -> None:
    message = track(
        context={"page": {"url": "https://app.example.com/login"}},
        properties={"url": "https://elsewhere.example.com/"},
    )
    assert mapped(message).request.uri == "https://app.example.com/login"


def test_properties_url_is_the_request_uri_when_there_is_no_page() -> None:
    message = track(properties={"url": "https://app.example.com/pricing"})
    assert mapped(message).request.uri == "https://app.example.com/pricing"


def test_without_any_url_the_request_uri_names_the_event() -> None:
    assert mapped(track(event="Login Button Clicked")).request.uri == (
        "segment://track/Login%20Button%20Clicked"
    )


def test_the_fallback_uri_percent_encodes_slashes_and_unicode() -> None:
    uri = mapped(track(event="Export/CSV ✓")).request.uri
    assert uri == TRACK_FALLBACK_URI_PREFIX + "Export%2FCSV%20%E2%9C%93"


def test_context_ip_becomes_the_request_ip_address() -> None:
    assert mapped(track(context={"ip": "203.0.113.9"})).request.ip_address == "203.0.113.9"


def test_context_user_agent_becomes_the_request_user_agent_string() -> None:
    agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
    assert mapped(track(context={"userAgent": agent})).request.user_agent_string == agent


def test_timestamp_becomes_the_request_time() -> None:
    action = mapped(track(timestamp="2024-05-01T12:00:00.123Z"))
    assert action.request.time == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


def test_an_unreadable_timestamp_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        action_from_track(track(timestamp="not a time"))
    assert caught.value.field == "timestamp"


# --- replays ---


def test_message_id_becomes_transaction_id() -> None:
    message_id = "ajs-next-1714564800000-4d3c2b1a"
    assert mapped(track(messageId=message_id)).transaction_id == message_id


def test_the_same_message_mapped_twice_has_the_same_transaction_id() -> None:
    message = track(messageId="m-42")
    assert mapped(message).transaction_id == mapped(message).transaction_id


def test_without_a_message_id_each_action_gets_a_fresh_transaction_id() -> None:
    message = track()
    assert mapped(message).transaction_id != mapped(message).transaction_id


def test_a_full_track_is_the_collector_action_it_describes() -> None:
    message = track(
        messageId="m-1",
        timestamp="2024-05-01T12:00:00Z",
        properties={"button": "primary"},
        context={"ip": "203.0.113.9", "page": {"url": "https://app.example.com/login"}},
    )
    assert to_dict(mapped(message)) == {
        "action_name": "Login Button Clicked",
        "request": {
            "uri": "https://app.example.com/login",
            "time": "2024-05-01T12:00:00.000Z",
            "ip_address": "203.0.113.9",
        },
        "transaction_id": "m-1",
        "user_id": "user-1",
        "metadata": {"button": "primary"},
    }
