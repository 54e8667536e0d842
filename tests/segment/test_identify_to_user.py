"""identify -> Moesif user: the destination's Identify table, reserved traits and context.

Each row of the seeds' tables is one parametrized case; anonymous identifies map to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import pytest

from moesifapi import CampaignModel, UserModel, ValidationError, to_dict
from moesifapi.segment import user_from_identify

SEED_EXAMPLE = {
    "type": "identify",
    "userId": "userId123",
    "traits": {
        "first_name": "John",
        "last_name": "Doe",
        "email": "john@example.com",
        "company": {"id": "67890", "plan": "Free"},
    },
}


def identify(**fields: object) -> dict[str, object]:
    return {"type": "identify", "userId": "user-1", **fields}


def mapped(message: Mapping[str, object]) -> UserModel:
    user = user_from_identify(message)
    assert user is not None
    return user


# --- the destination's Identify table: userId, traits, traits.company.id ---


def test_userId_becomes_user_id() -> None:
    assert mapped(identify(userId="userId123")).user_id == "userId123"


def test_traits_become_metadata() -> None:
    traits = {"plan": "Free", "logins": 3, "tags": ["a", "b"], "nested": {"k": "v"}}
    assert mapped(identify(traits=traits)).metadata == traits


def test_traits_company_id_becomes_company_id() -> None:
    message = identify(traits={"company": {"id": "67890", "plan": "Free"}})
    assert mapped(message).company_id == "67890"


def test_the_seed_example_is_the_collector_user_it_describes() -> None:
    assert to_dict(mapped(SEED_EXAMPLE)) == {
        "user_id": "userId123",
        "company_id": "67890",
        "metadata": SEED_EXAMPLE["traits"],
    }


def test_a_numeric_user_id_is_written_as_text() -> None:
    assert mapped(identify(userId=42)).user_id == "42"


def test_a_numeric_company_id_is_written_as_text() -> None:
    assert mapped(identify(traits={"company": {"id": 67890}})).company_id == "67890"


def test_a_company_given_by_name_only_links_no_company() -> None:
    user = mapped(identify(traits={"company": "Acme"}))
    assert (user.company_id, user.metadata) == (None, {"company": "Acme"})


def test_no_traits_means_no_metadata() -> None:
    assert mapped(identify()).metadata is None


def test_the_message_is_not_changed() -> None:
    traits = {"firstName": "Ada"}
    user_from_identify(identify(traits=traits))
    assert traits == {"firstName": "Ada"}


# --- Segment reserved traits -> Moesif reserved metadata keys ---

RESERVED_TRAITS = [
    # (Segment trait, Moesif metadata key, a value)
    ("email", "email", "ada@example.com"),
    ("name", "name", "Ada Lovelace"),
    ("firstName", "first_name", "Ada"),
    ("lastName", "last_name", "Lovelace"),
    ("phone", "phone", "+44 20 7946 0000"),
    ("avatar", "photo_url", "https://cdn.example.com/ada.png"),
]


@pytest.mark.parametrize(("trait", "metadata_key", "value"), RESERVED_TRAITS)
def test_a_reserved_trait_arrives_under_moesifs_key(
    trait: str, metadata_key: str, value: str
) -> None:
    assert mapped(identify(traits={trait: value})).metadata == {metadata_key: value}


def test_moesifs_own_spelling_wins_over_segments_when_both_are_sent() -> None:
    metadata = mapped(identify(traits={"firstName": "Segment", "first_name": "Moesif"})).metadata
    assert metadata == {"first_name": "Moesif"}


def test_other_segment_reserved_traits_are_kept_as_they_are() -> None:
    traits = {"createdAt": "2024-01-01T00:00:00Z", "title": "CTO", "username": "ada", "id": "u"}
    assert mapped(identify(traits=traits)).metadata == traits


# --- automatically collected context ---

CAMPAIGN_KEYS = [
    # (context.campaign key, CampaignModel field)
    ("name", "utm_campaign"),
    ("source", "utm_source"),
    ("medium", "utm_medium"),
    ("term", "utm_term"),
    ("content", "utm_content"),
]


def test_context_ip_becomes_ip_address() -> None:
    assert mapped(identify(context={"ip": "203.0.113.9"})).ip_address == "203.0.113.9"


def test_context_user_agent_becomes_user_agent_string() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"
    assert mapped(identify(context={"userAgent": agent})).user_agent_string == agent


@pytest.mark.parametrize(("campaign_key", "campaign_field"), CAMPAIGN_KEYS)
def test_a_context_campaign_key_becomes_its_utm_field(
    campaign_key: str, campaign_field: str
) -> None:
    user = mapped(identify(context={"campaign": {campaign_key: "spring"}}))
    assert user.campaign == CampaignModel(**{campaign_field: "spring"})


def test_the_page_referrer_gives_referrer_and_referring_domain() -> None:
    referrer = "https://Search.Example.com:8443/results?q=api+analytics"
    user = mapped(identify(context={"page": {"referrer": referrer}}))
    assert user.campaign == CampaignModel(referrer=referrer, referring_domain="search.example.com")


def test_a_referrer_that_is_not_a_url_gives_no_referring_domain() -> None:
    user = mapped(identify(context={"page": {"referrer": "android-app"}}))
    assert user.campaign == CampaignModel(referrer="android-app")


def test_a_gclid_in_the_page_query_is_kept_on_the_campaign() -> None:
    user = mapped(identify(context={"page": {"search": "?gclid=Cj0KCQ&utm_source=ads"}}))
    assert user.campaign == CampaignModel(gclid="Cj0KCQ")


def test_a_gclid_in_the_page_url_is_kept_when_there_is_no_search() -> None:
    user = mapped(identify(context={"page": {"url": "https://app.example.com/?gclid=XYZ"}}))
    assert user.campaign == CampaignModel(gclid="XYZ")


def test_campaign_keys_beyond_the_five_utm_ones_are_not_carried() -> None:
    assert mapped(identify(context={"campaign": {"ad_group": "g1"}})).campaign is None


def test_without_campaign_or_referrer_there_is_no_campaign() -> None:
    assert mapped(identify(context={"ip": "203.0.113.9"})).campaign is None


def test_timestamp_becomes_modified_time() -> None:
    user = mapped(identify(timestamp="2024-05-01T14:30:00.250+02:00"))
    assert user.modified_time == datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=timezone.utc)


def test_an_unreadable_timestamp_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        user_from_identify(identify(timestamp="yesterday"))
    assert caught.value.field == "timestamp"


# --- anonymous identifies and Personas ---


@pytest.mark.parametrize("user_id", [None, "", "   "])
def test_an_identify_with_only_an_anonymous_id_maps_to_no_user(user_id: object) -> None:
    message = {"type": "identify", "anonymousId": "anon-7", "userId": user_id, "traits": {}}
    assert user_from_identify(message) is None


@pytest.mark.parametrize("member", [True, False])
def test_a_personas_audience_trait_arrives_as_metadata_unchanged(member: bool) -> None:
    message = identify(traits={"order_completed_last_30days": member})
    assert mapped(message).metadata == {"order_completed_last_30days": member}
