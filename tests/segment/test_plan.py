"""plan_delivery: what one Segment payload (a message or a batch) comes to, before any I/O.

Covers the payload shapes, batch-wide context and integrations, and invalid messages.
"""

from __future__ import annotations

from typing import Any

import pytest

from moesifapi import ValidationError
from moesifapi.segment import DeliveryPlan, SkipReason, plan_delivery

IDENTIFY: dict[str, Any] = {
    "type": "identify",
    "messageId": "m-identify",
    "userId": "userId123",
    "traits": {"email": "john@example.com", "company": {"id": "67890", "plan": "Free"}},
}
TRACK: dict[str, Any] = {
    "type": "track",
    "messageId": "m-track",
    "userId": "userId123",
    "event": "Login Button Clicked",
}
GROUP: dict[str, Any] = {
    "type": "group",
    "messageId": "m-group",
    "userId": "userId123",
    "groupId": "67890",
    "traits": {"name": "Acme"},
}
PAGE: dict[str, Any] = {"type": "page", "messageId": "m-page", "userId": "userId123"}


def reasons(plan: DeliveryPlan) -> list[str]:
    return [skip.reason.value for skip in plan.skipped]


# --- payload shapes ---


def test_a_single_message_is_a_payload_of_one() -> None:
    plan = plan_delivery(TRACK)
    assert plan.messages == 1
    assert [action.action_name for action in plan.actions] == ["Login Button Clicked"]


def test_a_batch_object_is_split_by_kind() -> None:
    plan = plan_delivery({"batch": [IDENTIFY, TRACK, GROUP]})
    assert plan.messages == 3
    assert [user.company_id for user in plan.users] == ["67890", "67890"]
    assert [company.metadata for company in plan.companies] == [{"plan": "Free"}, {"name": "Acme"}]
    assert [action.transaction_id for action in plan.actions] == ["m-track"]


def test_each_kind_keeps_the_order_of_its_messages() -> None:
    tracks = [{**TRACK, "event": f"Step {n}", "messageId": f"m-{n}"} for n in range(5)]
    plan = plan_delivery({"batch": tracks})
    assert [action.action_name for action in plan.actions] == [f"Step {n}" for n in range(5)]


def test_a_list_of_messages_is_a_batch() -> None:
    # Segment's Webhooks (Actions) destination posts a batch as a bare JSON array.
    plan = plan_delivery([TRACK, PAGE])
    assert (plan.messages, len(plan.actions), reasons(plan)) == (2, 1, ["unsupported_type"])


def test_an_empty_batch_plans_nothing() -> None:
    assert plan_delivery({"batch": []}) == DeliveryPlan(messages=0)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(42, id="a number"),
        pytest.param("track", id="a string"),
        pytest.param(None, id="null"),
        pytest.param({"event": "Signed Up"}, id="an object with neither type nor batch"),
        pytest.param({"batch": {"type": "track"}}, id="a batch that is not a list"),
    ],
)
def test_a_payload_that_is_neither_a_message_nor_a_batch_raises(payload: Any) -> None:
    with pytest.raises(ValidationError):
        plan_delivery(payload)


# --- batch-wide context and integrations ---


def test_the_batch_context_applies_to_every_message() -> None:
    batch = {"batch": [TRACK, IDENTIFY], "context": {"ip": "203.0.113.9"}}
    plan = plan_delivery(batch)
    assert plan.actions[0].request.ip_address == "203.0.113.9"
    assert plan.users[0].ip_address == "203.0.113.9"


def test_a_messages_own_context_wins_over_the_batch_context() -> None:
    own = {**TRACK, "context": {"ip": "198.51.100.1"}}
    plan = plan_delivery({"batch": [own], "context": {"ip": "203.0.113.9", "userAgent": "curl"}})
    request = plan.actions[0].request
    assert (request.ip_address, request.user_agent_string) == ("198.51.100.1", "curl")


def test_batch_integrations_turning_moesif_off_skip_every_message() -> None:
    plan = plan_delivery({"batch": [TRACK, IDENTIFY], "integrations": {"All": False}})
    assert reasons(plan) == ["disabled_by_integrations"] * 2


def test_a_message_can_turn_moesif_back_on_in_a_batch_that_turns_all_off() -> None:
    enabled = {**TRACK, "integrations": {"Moesif API Analytics": True}}
    plan = plan_delivery({"batch": [enabled, IDENTIFY], "integrations": {"All": False}})
    assert (len(plan.actions), len(plan.users), reasons(plan)) == (
        1,
        0,
        ["disabled_by_integrations"],
    )


# --- invalid messages are skipped, not raised ---


def test_an_unreadable_timestamp_is_skipped_as_invalid_with_its_reason() -> None:
    (skip,) = plan_delivery({**TRACK, "timestamp": "yesterday"}).skipped
    assert skip.reason is SkipReason.INVALID_MESSAGE
    assert (skip.message_type, skip.message_id) == ("track", "m-track")
    assert skip.detail.startswith("timestamp: must be an ISO 8601 timestamp")


def test_a_batch_item_that_is_not_an_object_is_skipped_as_invalid() -> None:
    (skip,) = plan_delivery({"batch": [TRACK, "identify"]}).skipped
    assert skip.reason is SkipReason.INVALID_MESSAGE
    assert skip.detail == "batch item 1 is not a JSON object (got str)"


def test_properties_json_cannot_carry_are_skipped_as_invalid() -> None:
    message = {**TRACK, "properties": {"tags": {"a", "b"}}}
    (skip,) = plan_delivery(message).skipped
    assert skip.reason is SkipReason.INVALID_MESSAGE
    assert "tags" in skip.detail


def test_an_invalid_value_is_named_by_its_path_in_the_message_and_the_payload() -> None:
    bad = {"a", "b"}  # a set: JSON cannot carry it
    batch = [
        {**TRACK, "properties": {"tags": bad}},
        {**IDENTIFY, "traits": {"tags": bad}},
        {"type": "identify", "userId": "u", "traits": {"company": {"id": "c", "tags": bad}}},
        {**GROUP, "traits": {"tags": bad}},
    ]
    skipped = plan_delivery({"batch": batch}).skipped
    assert [skip.field for skip in skipped] == [
        "batch[0].properties.tags",
        "batch[1].traits.tags",
        "batch[2].traits.company.tags",
        "batch[3].traits.tags",
    ]
    assert [skip.detail.partition(":")[0] for skip in skipped] == [
        "properties.tags",
        "traits.tags",
        "traits.company.tags",
        "traits.tags",
    ]
    (in_a_list,) = plan_delivery([batch[0]]).skipped
    assert in_a_list.field == "[0].properties.tags"
    (alone,) = plan_delivery(batch[0]).skipped
    assert alone.field == "properties.tags"


def test_an_invalid_message_skips_all_of_its_updates() -> None:
    plan = plan_delivery({**IDENTIFY, "timestamp": "not a time"})
    assert (plan.users, plan.companies, reasons(plan)) == ((), (), ["invalid_message"])


def test_an_invalid_message_does_not_hold_back_the_rest_of_its_batch() -> None:
    plan = plan_delivery({"batch": [IDENTIFY, {**TRACK, "timestamp": "?"}, GROUP]})
    assert (len(plan.users), len(plan.companies), len(plan.actions)) == (2, 2, 0)
    assert reasons(plan) == ["invalid_message"]


def test_skips_name_the_message_they_came_from() -> None:
    plan = plan_delivery({"batch": [PAGE, {"type": "alias", "messageId": "m-alias"}]})
    assert [(skip.message_type, skip.message_id) for skip in plan.skipped] == [
        ("page", "m-page"),
        ("alias", "m-alias"),
    ]
