"""Moesif to Segment: a Moesif user profile as the identify message the Moesif source sends.

Trait names follow the Moesif source's Traits Object and Company Object tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import attrs

from .._wire import format_timestamp, to_dict
from ..exceptions import ValidationError
from ..models import UserModel
from ._fields import identifier, mapping, text

__all__ = ["identify_from_profile"]

# Moesif profile key -> Segment trait, in the order of the source's Traits Object table.
# `enrichment` is the current name of what older profiles (and the older table) call
# `clearbit`; whichever the profile holds is passed on under its own name.
_TRAIT_OF_PROFILE_KEY: tuple[tuple[str, str], ...] = (
    ("user_id", "id"),
    ("created", "createdAt"),
    ("modified_time", "modifiedTime"),
    ("first_seen_time", "firstSeenTime"),
    ("last_seen_time", "lastSeenTime"),
    ("name", "name"),
    ("email", "email"),
    ("username", "username"),
    ("campaign", "campaign"),
    ("enrichment", "enrichment"),
    ("clearbit", "clearbit"),
    ("last_24_hour_agg_results", "last24HourAggResults"),
    ("metadata", "metadata"),
    ("user_agent", "userAgent"),
)

# Moesif company key -> key inside the `company` trait (the source's Company Object table).
# Note the table's own spellings: `created`, not `createdAt`; `ttfhw_s` as it is.
_COMPANY_TRAIT_OF_KEY: tuple[tuple[str, str], ...] = (
    ("company_id", "id"),
    ("created", "created"),
    ("modified_time", "modifiedTime"),
    ("first_seen_time", "firstSeenTime"),
    ("last_seen_time", "lastSeenTime"),
    ("ip_address", "ipAddress"),
    ("company_domain", "companyDomain"),
    ("ttfhw_s", "ttfhw_s"),
    ("metadata", "metadata"),
)


def identify_from_profile(profile: Mapping[str, object] | UserModel) -> dict[str, object]:
    """The Segment identify message for a Moesif user profile (or a `UserModel`).

    Returns ``{"type": "identify", "userId": ..., "traits": {...}}`` plus ``"context"``
    (the profile's IP address, and user agent string when it has one) and
    ``"timestamp"`` (the profile's `modified_time`) when known. Absent or null fields
    are left out; datetimes, wherever they are, become ISO 8601 strings. Keys with no
    row in the source's tables, such as `session_token`, are not passed on.

    Raises `ValidationError` when the profile has no `user_id`.
    """
    fields = _profile_fields(profile)
    user_id = identifier(fields.get("user_id"))
    if user_id is None:
        raise ValidationError("is required", field="user_id")

    traits = _renamed(fields, _TRAIT_OF_PROFILE_KEY)
    traits["id"] = user_id
    company = _company_trait(fields)
    if company:
        traits["company"] = company

    message: dict[str, object] = {"type": "identify", "userId": user_id, "traits": traits}
    context: dict[str, object] = {}
    ip_address = text(fields.get("ip_address"))
    if ip_address is not None:
        context["ip"] = ip_address
    user_agent_string = text(fields.get("user_agent_string"))
    if user_agent_string is not None:
        context["userAgent"] = user_agent_string
    if context:
        message["context"] = context
    if "modifiedTime" in traits:
        message["timestamp"] = traits["modifiedTime"]
    return message


def _profile_fields(profile: Mapping[str, object] | UserModel) -> Mapping[str, object]:
    # A UserModel in wire form is a profile with fewer keys, plus `company_id` where a
    # full profile has a `company` object; `_company_trait` reads either.
    if isinstance(profile, UserModel):
        return to_dict(profile)
    return profile


def _company_trait(fields: Mapping[str, object]) -> dict[str, object]:
    company = mapping(fields.get("company"))
    if company is not None:
        return _renamed(company, _COMPANY_TRAIT_OF_KEY)
    company_id = identifier(fields.get("company_id"))
    return {} if company_id is None else {"id": company_id}


def _renamed(
    source: Mapping[str, object], renames: tuple[tuple[str, str], ...]
) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, trait in renames:
        value = source.get(key)
        if value is not None:
            out[trait] = _json_ready(value)
    return out


def _json_ready(value: object) -> object:
    """`value` with every datetime, date and model inside it turned into JSON values."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if attrs.has(type(value)):
        return _json_ready(to_dict(value))  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value
