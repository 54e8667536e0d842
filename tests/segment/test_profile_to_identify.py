"""Moesif profile -> Segment identify, field for field against the Moesif source's tables.

The Identify Message, Traits Object and Company Object tables each have one case per row.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from moesifapi import CampaignModel, UserModel, ValidationError
from moesifapi.segment import identify_from_profile

# Traits Object: (Segment trait, Moesif profile key)
TRAITS_OBJECT = [
    ("id", "user_id"),
    ("createdAt", "created"),
    ("modifiedTime", "modified_time"),
    ("firstSeenTime", "first_seen_time"),
    ("lastSeenTime", "last_seen_time"),
    ("name", "name"),
    ("email", "email"),
    ("username", "username"),
    ("campaign", "campaign"),
    ("enrichment", "enrichment"),
    ("last24HourAggResults", "last_24_hour_agg_results"),
    ("metadata", "metadata"),
    ("userAgent", "user_agent"),
]
# Company Object: (key inside the `company` trait, Moesif company key)
COMPANY_OBJECT = [
    ("id", "company_id"),
    ("created", "created"),
    ("modifiedTime", "modified_time"),
    ("firstSeenTime", "first_seen_time"),
    ("lastSeenTime", "last_seen_time"),
    ("ipAddress", "ip_address"),
    ("companyDomain", "company_domain"),
    ("ttfhw_s", "ttfhw_s"),
    ("metadata", "metadata"),
]


def traits_of(message: dict[str, object]) -> dict[str, Any]:
    traits = message["traits"]
    assert isinstance(traits, dict)
    return traits


# --- Identify Message table: userId, context, traits ---


def test_the_message_is_an_identify_for_the_user_id(moesif_profile: dict[str, Any]) -> None:
    message = identify_from_profile(moesif_profile)
    assert (message["type"], message["userId"]) == ("identify", "user-8812")


def test_the_profile_ip_address_goes_in_the_context(moesif_profile: dict[str, Any]) -> None:
    assert identify_from_profile(moesif_profile)["context"] == {"ip": "203.0.113.7"}


def test_the_message_timestamp_is_the_profiles_modified_time(
    moesif_profile: dict[str, Any],
) -> None:
    assert identify_from_profile(moesif_profile)["timestamp"] == "2024-05-01T12:30:45.120Z"


def test_the_traits_hold_exactly_the_traits_object_fields(
    moesif_profile: dict[str, Any],
) -> None:
    expected = {trait for trait, _ in TRAITS_OBJECT} | {"company"}
    assert set(traits_of(identify_from_profile(moesif_profile))) == expected


# --- Traits Object table ---


@pytest.mark.parametrize(("trait", "profile_key"), TRAITS_OBJECT)
def test_a_traits_object_field_carries_its_profile_value(
    moesif_profile: dict[str, Any], trait: str, profile_key: str
) -> None:
    traits = traits_of(identify_from_profile(moesif_profile))
    assert traits[trait] == moesif_profile[profile_key]


def test_an_older_profiles_clearbit_results_keep_their_name(
    moesif_profile: dict[str, Any],
) -> None:
    profile = {**moesif_profile, "clearbit": {"person": {"name": "Ada"}}}
    del profile["enrichment"]
    assert traits_of(identify_from_profile(profile))["clearbit"] == {"person": {"name": "Ada"}}


def test_the_session_token_is_not_passed_on(moesif_profile: dict[str, Any]) -> None:
    message = identify_from_profile(moesif_profile)
    assert "jwt-do-not-forward" not in repr(message)


# --- Company Object table ---


@pytest.mark.parametrize(("trait", "company_key"), COMPANY_OBJECT)
def test_a_company_object_field_carries_its_company_value(
    moesif_profile: dict[str, Any], trait: str, company_key: str
) -> None:
    company = traits_of(identify_from_profile(moesif_profile))["company"]
    assert company[trait] == moesif_profile["company"][company_key]


def test_the_company_trait_holds_exactly_the_company_object_fields(
    moesif_profile: dict[str, Any],
) -> None:
    company = traits_of(identify_from_profile(moesif_profile))["company"]
    assert set(company) == {trait for trait, _ in COMPANY_OBJECT}


def test_a_profile_without_a_company_has_no_company_trait() -> None:
    assert "company" not in traits_of(identify_from_profile({"user_id": "u1"}))


# --- missing values, datetimes, models ---


def test_missing_and_null_fields_are_left_out() -> None:
    message = identify_from_profile({"user_id": "u1", "email": None, "company": {"ttfhw_s": None}})
    assert message == {"type": "identify", "userId": "u1", "traits": {"id": "u1"}}


def test_datetimes_become_iso_strings_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    profile = {"user_id": "u1", "created": datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)}
    assert traits_of(identify_from_profile(profile))["createdAt"] == "2024-05-01T12:00:00.000Z"


def test_datetimes_inside_metadata_become_iso_strings() -> None:
    profile = {"user_id": "u1", "metadata": {"trial": {"ends": datetime(2024, 6, 1)}}}
    metadata = traits_of(identify_from_profile(profile))["metadata"]
    assert metadata == {"trial": {"ends": "2024-06-01T00:00:00.000Z"}}


def test_a_numeric_user_id_is_written_as_text() -> None:
    assert identify_from_profile({"user_id": 8812})["userId"] == "8812"


@pytest.mark.parametrize("profile", [{}, {"user_id": None}, {"user_id": ""}])
def test_a_profile_without_a_user_id_is_an_error_naming_it(profile: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        identify_from_profile(profile)
    assert caught.value.field == "user_id"


def test_a_user_model_becomes_the_same_identify() -> None:
    user = UserModel(
        user_id="u1",
        company_id="c1",
        modified_time=datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        ip_address="203.0.113.7",
        session_token="secret-token",
        user_agent_string="curl/8.5.0",
        campaign=CampaignModel(utm_source="docs"),
        metadata={"plan": "free"},
    )
    assert identify_from_profile(user) == {
        "type": "identify",
        "userId": "u1",
        "traits": {
            "id": "u1",
            "modifiedTime": "2024-05-01T12:00:00.000Z",
            "campaign": {"utm_source": "docs"},
            "metadata": {"plan": "free"},
            "company": {"id": "c1"},
        },
        "context": {"ip": "203.0.113.7", "userAgent": "curl/8.5.0"},
        "timestamp": "2024-05-01T12:00:00.000Z",
    }


def test_the_profile_is_not_changed(moesif_profile: dict[str, Any]) -> None:
    before = repr(moesif_profile)
    identify_from_profile(moesif_profile)
    assert repr(moesif_profile) == before
