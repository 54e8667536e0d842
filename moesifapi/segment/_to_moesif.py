"""Segment to Moesif: identify, group and track messages as Moesif users, companies, actions.

Each function reads one message and returns a model, or `None` when a needed field is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, quote, urlsplit

import attrs

from ..models import ActionModel, ActionRequestModel, CampaignModel, CompanyModel, UserModel
from ._fields import SegmentMessage, identifier, mapping, nested, text, timestamp, url_host

__all__ = [
    "TRACK_FALLBACK_URI_PREFIX",
    "action_from_track",
    "company_from_group",
    "company_from_identify",
    "user_from_identify",
]

# Segment reserved traits whose meaning Moesif knows under another metadata key.
# email, name and phone are spelled the same on both sides and need no entry.
_MOESIF_SPELLING_OF_TRAIT: dict[str, str] = {
    "firstName": "first_name",
    "lastName": "last_name",
    "avatar": "photo_url",
}

# context.campaign key -> CampaignModel field.
_UTM_FIELD_OF_CAMPAIGN_KEY: dict[str, str] = {
    "name": "utm_campaign",
    "source": "utm_source",
    "medium": "utm_medium",
    "term": "utm_term",
    "content": "utm_content",
}

TRACK_FALLBACK_URI_PREFIX = "segment://track/"
"""An action needs a `request.uri`; a track with no page URL gets this plus the event name."""


def user_from_identify(message: SegmentMessage) -> UserModel | None:
    """The Moesif user an identify call describes, or `None` for an anonymous identify.

    `userId` becomes `user_id`, the traits become `metadata` (Segment's reserved
    `firstName`, `lastName` and `avatar` renamed to Moesif's `first_name`, `last_name`
    and `photo_url`), `traits.company.id` becomes `company_id`, and the automatically
    collected context fills `ip_address`, `user_agent_string` and `campaign`.
    """
    user_id = identifier(message.get("userId"))
    if user_id is None:
        return None
    traits = mapping(message.get("traits")) or {}
    return UserModel(
        user_id=user_id,
        company_id=_company_id_in_traits(traits),
        modified_time=timestamp(message.get("timestamp"), field="timestamp"),
        ip_address=text(nested(message, "context", "ip")),
        user_agent_string=text(nested(message, "context", "userAgent")),
        campaign=_campaign_from_context(message),
        metadata=_user_metadata(traits),
    )


def company_from_identify(message: SegmentMessage) -> CompanyModel | None:
    """The company named by `traits.company` of an identify call, when it carries an `id`.

    The other keys of `traits.company` become the company's metadata (`website` also
    gives `company_domain`); the call's IP address, campaign and timestamp apply too.
    """
    company = mapping(nested(message, "traits", "company"))
    if company is None:
        return None
    company_id = identifier(company.get("id"))
    if company_id is None:
        return None
    # The id is promoted to company_id, as userId is for the user: not repeated in metadata.
    company_traits = {key: value for key, value in company.items() if key != "id"}
    return _company(company_id, company_traits, message)


def company_from_group(message: SegmentMessage) -> CompanyModel | None:
    """The Moesif company a group call describes, or `None` when it has no `groupId`.

    `groupId` becomes `company_id` and the traits become `metadata`; `traits.website`
    also gives `company_domain` (its host when it is a URL).
    """
    company_id = identifier(message.get("groupId"))
    if company_id is None:
        return None
    return _company(company_id, mapping(message.get("traits")) or {}, message)


def action_from_track(message: SegmentMessage) -> ActionModel | None:
    """The Moesif action a track call records, or `None` when it names no event.

    `event` becomes `action_name`, `properties` become `metadata`, `messageId` becomes
    `transaction_id` (so a replayed message is deduplicated). The request's `uri` is the
    page URL (`context.page.url`, else `properties.url`), else
    ``segment://track/<event, percent-encoded>``.
    """
    action_name = text(message.get("event"))
    if action_name is None:
        return None
    properties = mapping(message.get("properties")) or {}
    uri = (
        text(nested(message, "context", "page", "url"))
        or text(properties.get("url"))
        or TRACK_FALLBACK_URI_PREFIX + quote(action_name, safe="")
    )
    action = ActionModel(
        action_name=action_name,
        request=ActionRequestModel(
            uri=uri,
            time=timestamp(message.get("timestamp"), field="timestamp"),
            ip_address=text(nested(message, "context", "ip")),
            user_agent_string=text(nested(message, "context", "userAgent")),
        ),
        user_id=identifier(message.get("userId")),
        metadata=dict(properties) or None,
    )
    message_id = identifier(message.get("messageId"))
    if message_id is not None:
        action = attrs.evolve(action, transaction_id=message_id)
    return action


def _campaign_from_context(message: SegmentMessage) -> CampaignModel | None:
    """Marketing attribution from `context.campaign` and `context.page`, if there is any.

    UTM values come from `context.campaign`; `referrer` and its host
    (`referring_domain`) from `context.page.referrer`; `gclid` from the page's query.
    """
    campaign = mapping(nested(message, "context", "campaign")) or {}
    fields: dict[str, str] = {}
    for key, utm_field in _UTM_FIELD_OF_CAMPAIGN_KEY.items():
        value = text(campaign.get(key))
        if value is not None:
            fields[utm_field] = value
    referrer = text(nested(message, "context", "page", "referrer"))
    if referrer is not None:
        fields["referrer"] = referrer
        referring_domain = url_host(referrer)
        if referring_domain is not None:
            fields["referring_domain"] = referring_domain
    gclid = _gclid_of_page(mapping(nested(message, "context", "page")) or {})
    if gclid is not None:
        fields["gclid"] = gclid
    return CampaignModel(**fields) if fields else None


def _user_metadata(traits: Mapping[str, object]) -> dict[str, object] | None:
    metadata: dict[str, object] = {}
    for key, value in traits.items():
        moesif_key = _MOESIF_SPELLING_OF_TRAIT.get(key, key)
        if moesif_key != key and moesif_key in traits:
            continue  # the caller also sent Moesif's own spelling; theirs is the one to keep
        metadata[moesif_key] = value
    return metadata or None


def _company_id_in_traits(traits: Mapping[str, object]) -> str | None:
    company = mapping(traits.get("company"))
    return None if company is None else identifier(company.get("id"))


def _company(
    company_id: str, company_traits: Mapping[str, object], message: SegmentMessage
) -> CompanyModel:
    return CompanyModel(
        company_id=company_id,
        company_domain=_domain_of_website(company_traits.get("website")),
        modified_time=timestamp(message.get("timestamp"), field="timestamp"),
        ip_address=text(nested(message, "context", "ip")),
        campaign=_campaign_from_context(message),
        metadata=dict(company_traits) or None,
    )


def _domain_of_website(website: object) -> str | None:
    """`acme.com` from ``https://acme.com/about``; a value that is not a URL is kept as is."""
    value = text(website)
    if value is None:
        return None
    if "://" in value:
        return url_host(value)
    return value.strip()


def _gclid_of_page(page: Mapping[str, object]) -> str | None:
    query = text(page.get("search"))
    if query is None:
        url = text(page.get("url"))
        if url is None:
            return None
        try:
            query = urlsplit(url).query
        except ValueError:
            return None
    values = parse_qs(query.lstrip("?")).get("gclid")
    return text(values[0]) if values else None
