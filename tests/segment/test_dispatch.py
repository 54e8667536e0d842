"""dispatch: which Moesif updates one Segment message stands for, or why it stands for none.

Covers each message type, the integrations object, and the reasons given for skipping.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from moesifapi import ActionModel, CompanyModel, UserModel, ValidationError
from moesifapi.segment import MoesifUpdate, Skipped, SkipReason, dispatch

IDENTIFY = {
    "type": "identify",
    "messageId": "m-identify",
    "userId": "userId123",
    "traits": {"email": "john@example.com", "company": {"id": "67890", "plan": "Free"}},
}
TRACK = {
    "type": "track",
    "messageId": "m-track",
    "userId": "userId123",
    "event": "Login Button Clicked",
}
GROUP = {
    "type": "group",
    "messageId": "m-group",
    "userId": "userId123",
    "groupId": "67890",
    "traits": {"name": "Acme"},
}


def skipped(message: Mapping[str, object]) -> Skipped:
    result = dispatch(message)
    assert isinstance(result, Skipped)
    return result


def updates(message: Mapping[str, object]) -> list[MoesifUpdate]:
    result = dispatch(message)
    assert isinstance(result, list)
    return result


# --- what each message type becomes ---


def test_an_identify_is_the_user_then_its_company() -> None:
    user, company = updates(IDENTIFY)
    assert isinstance(user, UserModel)
    assert isinstance(company, CompanyModel)
    assert (user.user_id, user.company_id, company.company_id) == ("userId123", "67890", "67890")


def test_an_identify_without_a_company_id_is_the_user_alone() -> None:
    message = {**IDENTIFY, "traits": {"email": "john@example.com"}}
    assert [type(update) for update in updates(message)] == [UserModel]


def test_a_track_is_one_action() -> None:
    (action,) = updates(TRACK)
    assert isinstance(action, ActionModel)
    assert action.action_name == "Login Button Clicked"


def test_a_group_is_the_company_then_the_user_linked_to_it() -> None:
    company, user = updates(GROUP)
    assert isinstance(company, CompanyModel)
    assert company.metadata == {"name": "Acme"}
    assert user == UserModel(user_id="userId123", company_id="67890")


def test_an_anonymous_group_is_the_company_alone() -> None:
    message = {**GROUP, "userId": None, "anonymousId": "anon-1"}
    assert [type(update) for update in updates(message)] == [CompanyModel]


def test_a_malformed_timestamp_is_raised_not_skipped() -> None:
    with pytest.raises(ValidationError):
        dispatch({**TRACK, "timestamp": "soon"})


# --- skipped messages and their reasons ---


def test_an_anonymous_identify_is_skipped_as_anonymous() -> None:
    message = {**IDENTIFY, "userId": None, "anonymousId": "anon-1"}
    assert skipped(message).reason is SkipReason.ANONYMOUS_IDENTIFY


def test_an_anonymous_identify_is_skipped_even_when_it_names_a_company() -> None:
    message = {"type": "identify", "anonymousId": "anon-1", "traits": {"company": {"id": "1"}}}
    assert skipped(message).reason is SkipReason.ANONYMOUS_IDENTIFY


def test_a_skip_says_which_message_it_was() -> None:
    result = skipped({**IDENTIFY, "userId": None})
    assert (result.message_type, result.message_id) == ("identify", "m-identify")


def test_a_skip_explains_itself_in_words() -> None:
    assert "userId" in skipped({**IDENTIFY, "userId": None}).detail


def test_a_track_without_an_event_is_skipped() -> None:
    assert skipped({**TRACK, "event": None}).reason is SkipReason.NO_EVENT_NAME


def test_a_group_without_a_group_id_is_skipped() -> None:
    assert skipped({**GROUP, "groupId": None}).reason is SkipReason.NO_GROUP_ID


@pytest.mark.parametrize("message_type", ["page", "screen", "alias"])
def test_page_screen_and_alias_are_skipped_as_unsupported(message_type: str) -> None:
    result = skipped({"type": message_type, "userId": "userId123"})
    assert (result.reason, result.message_type) == (SkipReason.UNSUPPORTED_TYPE, message_type)


@pytest.mark.parametrize("message_type", [None, "", "Identify", "purchase", 3])
def test_an_unknown_or_missing_type_is_skipped_as_unknown(message_type: object) -> None:
    assert skipped({**IDENTIFY, "type": message_type}).reason is SkipReason.UNKNOWN_TYPE


def test_skip_reasons_have_stable_string_values_for_logs_and_metrics() -> None:
    assert SkipReason.ANONYMOUS_IDENTIFY.value == "anonymous_identify"
    assert isinstance(SkipReason.ANONYMOUS_IDENTIFY, str)


# --- the integrations object ---

SENT = [
    {},
    {"All": True},
    {"Mixpanel": False},
    {"All": False, "Moesif API Analytics": True},
    {"All": False, "moesif-api-analytics": True},
    {"All": False, "Moesif API Analytics": {"note": "options object means on"}},
    {"Moesif API Analytics": None},
]
NOT_SENT = [
    {"All": False},
    {"Moesif API Analytics": False},
    {"moesif-api-analytics": False},
    {"All": True, "moesif-api-analytics": False},
    {"Moesif API Analytics": True, "moesif-api-analytics": False},
    {"All": False, "Mixpanel": True},
]


@pytest.mark.parametrize("integrations", SENT)
def test_integrations_that_leave_moesif_on_let_the_message_through(
    integrations: dict[str, object],
) -> None:
    assert isinstance(dispatch({**TRACK, "integrations": integrations}), list)


@pytest.mark.parametrize("integrations", NOT_SENT)
def test_integrations_that_turn_moesif_off_skip_the_message(
    integrations: dict[str, object],
) -> None:
    result = skipped({**TRACK, "integrations": integrations})
    assert result.reason is SkipReason.DISABLED_BY_INTEGRATIONS


def test_a_disabled_page_call_is_reported_as_disabled() -> None:
    message = {"type": "page", "userId": "u", "integrations": {"All": False}}
    assert skipped(message).reason is SkipReason.DISABLED_BY_INTEGRATIONS
