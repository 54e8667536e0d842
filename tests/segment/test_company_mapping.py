"""identify's traits.company and group calls -> Moesif companies.

The company's id, traits, website domain and the call's context each have a case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import pytest

from moesifapi import CampaignModel, CompanyModel, ValidationError
from moesifapi.segment import company_from_group, company_from_identify


def group(**fields: object) -> dict[str, object]:
    return {"type": "group", "userId": "user-1", "groupId": "company-1", **fields}


def identify_with_company(company: object, **fields: object) -> dict[str, object]:
    return {"type": "identify", "userId": "user-1", "traits": {"company": company}, **fields}


def from_group(message: Mapping[str, object]) -> CompanyModel:
    company = company_from_group(message)
    assert company is not None
    return company


def from_identify(message: Mapping[str, object]) -> CompanyModel:
    company = company_from_identify(message)
    assert company is not None
    return company


# --- group ---


def test_group_id_becomes_company_id() -> None:
    assert from_group(group(groupId="67890")).company_id == "67890"


def test_a_numeric_group_id_is_written_as_text() -> None:
    assert from_group(group(groupId=67890)).company_id == "67890"


def test_group_traits_become_metadata() -> None:
    traits = {"name": "Acme", "plan": "Enterprise", "employees": 120}
    assert from_group(group(traits=traits)).metadata == traits


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.acme.com/about?ref=x", "www.acme.com"),
        ("http://ACME.com:8080", "acme.com"),
        ("acme.com", "acme.com"),
    ],
)
def test_the_website_trait_gives_the_company_domain(website: str, domain: str) -> None:
    assert from_group(group(traits={"website": website})).company_domain == domain


def test_the_website_trait_also_stays_in_metadata() -> None:
    assert from_group(group(traits={"website": "acme.com"})).metadata == {"website": "acme.com"}


def test_group_context_ip_becomes_ip_address() -> None:
    assert from_group(group(context={"ip": "198.51.100.4"})).ip_address == "198.51.100.4"


def test_group_context_campaign_becomes_campaign() -> None:
    company = from_group(group(context={"campaign": {"name": "q3", "source": "partner"}}))
    assert company.campaign == CampaignModel(utm_campaign="q3", utm_source="partner")


def test_group_timestamp_becomes_modified_time() -> None:
    company = from_group(group(timestamp="2024-05-01T12:00:00Z"))
    assert company.modified_time == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("group_id", [None, "", 3.5, True])
def test_a_group_without_a_usable_group_id_maps_to_no_company(group_id: object) -> None:
    assert company_from_group(group(groupId=group_id)) is None


def test_an_unreadable_group_timestamp_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        company_from_group(group(timestamp=1714564800))
    assert caught.value.field == "timestamp"


# --- identify with traits.company ---


def test_traits_company_id_becomes_the_company_id() -> None:
    assert from_identify(identify_with_company({"id": "67890"})).company_id == "67890"


def test_the_other_company_traits_become_company_metadata() -> None:
    company = from_identify(identify_with_company({"id": "67890", "plan": "Free"}))
    assert company.metadata == {"plan": "Free"}


def test_a_company_with_only_an_id_has_no_metadata() -> None:
    assert from_identify(identify_with_company({"id": "67890"})).metadata is None


def test_the_company_website_gives_its_domain() -> None:
    company = from_identify(identify_with_company({"id": "1", "website": "https://acme.com"}))
    assert company.company_domain == "acme.com"


def test_the_identify_context_applies_to_the_company() -> None:
    message = identify_with_company(
        {"id": "1"},
        context={"ip": "198.51.100.4", "campaign": {"medium": "cpc"}},
        timestamp="2024-05-01T12:00:00Z",
    )
    company = from_identify(message)
    assert (company.ip_address, company.campaign, company.modified_time) == (
        "198.51.100.4",
        CampaignModel(utm_medium="cpc"),
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
    )


@pytest.mark.parametrize("company", ["Acme", {"name": "Acme"}, {"id": ""}, None])
def test_an_identify_whose_company_has_no_id_maps_to_no_company(company: object) -> None:
    assert company_from_identify(identify_with_company(company)) is None


def test_an_identify_without_traits_maps_to_no_company() -> None:
    assert company_from_identify({"type": "identify", "userId": "user-1"}) is None
