"""The real Segment Python library, posting to a loopback Segment API, feeds the mapping.

Calls are written as a user of ``segment.analytics`` would; what arrives is mapped and checked.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest
from dateutil.parser import isoparse

from moesifapi import ActionModel, CampaignModel, CompanyModel, UserModel
from moesifapi.segment import (
    MoesifUpdate,
    Skipped,
    SkipReason,
    dispatch,
    identify_from_profile,
)

if TYPE_CHECKING:  # a fixture's type, for readers; conftest is not importable at run time
    from conftest import SegmentCollector

pytest.importorskip("segment.analytics")

WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
IP = "203.0.113.9"
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15"
BROWSER = {
    "ip": IP,
    "userAgent": USER_AGENT,
    "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
    "page": {
        "url": "https://app.example.com/login",
        "referrer": "https://news.example.org/issue/12",
    },
}


def only_message(collector: SegmentCollector) -> dict[str, Any]:
    (message,) = collector.messages
    return message


def updates_from(collector: SegmentCollector) -> list[MoesifUpdate]:
    result = dispatch(only_message(collector))
    assert isinstance(result, list), result
    return result


def test_the_library_posts_to_the_loopback_batch_endpoint(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.track("userId123", "Login Button Clicked")
    assert [path for path, _ in segment_collector.posts] == ["/v1/batch"]


def test_the_seed_identify_becomes_the_seed_user_and_company(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    traits = {
        "first_name": "John",
        "last_name": "Doe",
        "email": "john@example.com",
        "company": {"id": "67890", "plan": "Free"},
    }
    segment_client.identify("userId123", traits, context=dict(BROWSER), timestamp=WHEN)

    campaign = CampaignModel(
        utm_campaign="spring",
        utm_source="newsletter",
        utm_medium="email",
        referrer="https://news.example.org/issue/12",
        referring_domain="news.example.org",
    )
    assert dispatch(only_message(segment_collector)) == [
        UserModel(
            user_id="userId123",
            company_id="67890",
            modified_time=WHEN,
            ip_address=IP,
            user_agent_string=USER_AGENT,
            campaign=campaign,
            metadata=traits,
        ),
        CompanyModel(
            company_id="67890",
            modified_time=WHEN,
            ip_address=IP,
            campaign=campaign,
            metadata={"plan": "Free"},
        ),
    ]


def test_reserved_traits_sent_by_the_library_arrive_under_moesifs_keys(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.identify(
        "userId123",
        {"firstName": "Ada", "lastName": "Lovelace", "avatar": "https://cdn.example.com/a.png"},
    )
    (user,) = updates_from(segment_collector)
    assert user.metadata == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "photo_url": "https://cdn.example.com/a.png",
    }


def test_the_seed_track_becomes_an_action_deduplicated_by_message_id(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.track(
        "userId123",
        "Login Button Clicked",
        {"button": "primary"},
        context=dict(BROWSER),
        timestamp=WHEN,
        message_id="msg-0001",
    )
    (action,) = updates_from(segment_collector)
    assert isinstance(action, ActionModel)
    assert (action.action_name, action.metadata, action.user_id, action.transaction_id) == (
        "Login Button Clicked",
        {"button": "primary"},
        "userId123",
        "msg-0001",
    )
    assert (action.request.uri, action.request.time, action.request.ip_address) == (
        "https://app.example.com/login",
        WHEN,
        "203.0.113.9",
    )


def test_a_track_without_a_page_gets_the_fallback_uri(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.track("userId123", "Login Button Clicked")
    (action,) = updates_from(segment_collector)
    assert isinstance(action, ActionModel)
    assert action.request.uri == "segment://track/Login%20Button%20Clicked"


def test_a_group_becomes_the_company_and_the_users_link_to_it(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.group(
        "userId123", "67890", {"name": "Acme", "website": "https://www.acme.com/"}, timestamp=WHEN
    )
    assert dispatch(only_message(segment_collector)) == [
        CompanyModel(
            company_id="67890",
            company_domain="www.acme.com",
            modified_time=WHEN,
            metadata={"name": "Acme", "website": "https://www.acme.com/"},
        ),
        UserModel(user_id="userId123", company_id="67890"),
    ]


def test_a_personas_audience_identify_arrives_as_a_boolean_trait(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.identify("userId123", {"high_value_users": True})
    (user,) = updates_from(segment_collector)
    assert user.metadata == {"high_value_users": True}


def test_an_anonymous_identify_from_the_library_is_skipped(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.identify(anonymous_id="anon-42", traits={"email": "someone@example.com"})
    result = dispatch(only_message(segment_collector))
    assert isinstance(result, Skipped)
    assert result.reason is SkipReason.ANONYMOUS_IDENTIFY


def test_a_page_call_from_the_library_is_skipped_as_unsupported(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.page("userId123", name="Pricing")
    result = dispatch(only_message(segment_collector))
    assert isinstance(result, Skipped)
    assert result.reason is SkipReason.UNSUPPORTED_TYPE


def test_integrations_set_through_the_library_are_honoured(
    segment_client: Any, segment_collector: SegmentCollector
) -> None:
    segment_client.track("userId123", "Signed Up", integrations={"All": False})
    result = dispatch(only_message(segment_collector))
    assert isinstance(result, Skipped)
    assert result.reason is SkipReason.DISABLED_BY_INTEGRATIONS


def test_a_profile_sent_through_the_library_arrives_with_the_source_field_names(
    segment_client: Any, segment_collector: SegmentCollector, moesif_profile: dict[str, Any]
) -> None:
    message = identify_from_profile(moesif_profile)
    context = message["context"]
    timestamp = message["timestamp"]
    assert isinstance(context, dict)
    assert isinstance(timestamp, str)
    segment_client.identify(
        message["userId"], message["traits"], context=dict(context), timestamp=isoparse(timestamp)
    )

    arrived = only_message(segment_collector)
    assert arrived["userId"] == "user-8812"
    assert arrived["context"]["ip"] == "203.0.113.7"
    assert arrived["traits"] == message["traits"]
    assert sorted(arrived["traits"]) == sorted(
        [
            "id",
            "createdAt",
            "modifiedTime",
            "firstSeenTime",
            "lastSeenTime",
            "name",
            "email",
            "username",
            "company",
            "campaign",
            "enrichment",
            "last24HourAggResults",
            "metadata",
            "userAgent",
        ]
    )
    assert sorted(arrived["traits"]["company"]) == sorted(
        [
            "id",
            "created",
            "modifiedTime",
            "firstSeenTime",
            "lastSeenTime",
            "ipAddress",
            "companyDomain",
            "ttfhw_s",
            "metadata",
        ]
    )
