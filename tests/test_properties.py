"""Property: any valid model survives the wire unchanged.

For every model class, `from_dict(cls, json.loads(to_json(m))) == m`. Models already
hold times in UTC at millisecond precision, so the generated datetimes (naive, UTC,
fixed offsets and IANA zones, with microseconds) are normalized on construction and
compare equal after the trip.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AppConfig,
    CampaignModel,
    CompanyModel,
    EntityRuleValues,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    GovernanceResponse,
    GovernanceRule,
    RegexCondition,
    RegexConditionGroup,
    RegexSamplingRule,
    RuleVariable,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    from_dict,
    to_json,
)

EXAMPLES = settings(max_examples=40, deadline=None)

# --- building blocks ---

text = st.text(max_size=12)  # any unicode except lone surrogates
optional_text = st.none() | text
ids = st.text(min_size=1, max_size=12).filter(str.strip)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
metadata = st.none() | st.dictionaries(text, json_values, max_size=4)

fixed_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# One day inside datetime's range at both ends, so any offset can be converted to UTC.
datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.none() | st.just(timezone.utc) | fixed_offsets | st.timezones(),
)
optional_datetimes = st.none() | datetimes

token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789", min_size=1
)
header_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
headers = (
    st.dictionaries(text, text, max_size=4)
    # repeated headers given as lists of values
    | st.dictionaries(text, text | st.lists(text, max_size=3), max_size=4)
    # httpx.Headers with repeated names in different spellings
    | st.lists(st.tuples(token, header_value), max_size=5).map(httpx.Headers)
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """`body` and `transfer_encoding` keyword arguments that belong together."""
    kind = draw(st.sampled_from(["none", "json", "bytes", "base64-text"]))
    if kind == "bytes":
        return {"body": draw(st.binary(max_size=24))}
    if kind == "base64-text":
        raw = draw(st.binary(max_size=24))
        return {"body": base64.b64encode(raw).decode(), "transfer_encoding": "base64"}
    body = None if kind == "none" else draw(json_values)
    return {"body": body, "transfer_encoding": draw(st.sampled_from([None, ""]))}


counts = st.none() | st.integers(min_value=0)
span_links = st.lists(text | st.dictionaries(text, json_values, max_size=3), max_size=3)
spans = st.builds(
    SpanModel,
    id=optional_text,
    parent_id=optional_text,
    links=st.none() | span_links,
    status=st.none() | st.integers(),
)


@st.composite
def event_requests(draw: st.DrawFn) -> EventRequestModel:
    return EventRequestModel(
        time=draw(datetimes),
        uri=draw(ids),
        verb=draw(st.sampled_from(["GET", "POST", "PATCH"]) | ids),
        headers=draw(headers),
        api_version=draw(optional_text),
        ip_address=draw(optional_text),
        content_length=draw(counts),
        **draw(bodies()),
    )


@st.composite
def event_responses(draw: st.DrawFn) -> EventResponseModel:
    return EventResponseModel(
        time=draw(datetimes),
        status=draw(st.integers(min_value=100, max_value=599)),
        headers=draw(headers),
        ip_address=draw(optional_text),
        content_length=draw(counts),
        **draw(bodies()),
    )


@st.composite
def events(draw: st.DrawFn) -> EventModel:
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["transaction_id"] = draw(ids)  # else a UUID4 is generated
    return EventModel(
        request=draw(event_requests()),
        response=draw(st.none() | event_responses()),
        user_id=draw(optional_text),
        company_id=draw(optional_text),
        session_token=draw(optional_text),
        subscription_id=draw(optional_text),
        action_name=draw(optional_text),
        trace_id=draw(optional_text),
        span=draw(st.none() | spans),
        direction=draw(st.sampled_from([None, "Incoming", "Outgoing", "Internal"])),
        weight=draw(st.none() | st.integers(min_value=0)),
        metadata=draw(metadata),
        tags=draw(optional_text),
        blocked_by=draw(optional_text),
        **extra,
    )


campaigns = st.builds(
    CampaignModel,
    utm_source=optional_text,
    utm_medium=optional_text,
    utm_campaign=optional_text,
    utm_term=optional_text,
    utm_content=optional_text,
    referrer=optional_text,
    referring_domain=optional_text,
    gclid=optional_text,
)

users = st.builds(
    UserModel,
    user_id=ids,
    company_id=optional_text,
    modified_time=optional_datetimes,
    ip_address=optional_text,
    session_token=optional_text,
    user_agent_string=optional_text,
    campaign=st.none() | campaigns,
    metadata=metadata,
)

companies = st.builds(
    CompanyModel,
    company_id=ids,
    company_domain=optional_text,
    modified_time=optional_datetimes,
    ip_address=optional_text,
    session_token=optional_text,
    campaign=st.none() | campaigns,
    metadata=metadata,
)


@st.composite
def actions(draw: st.DrawFn) -> ActionModel:
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["transaction_id"] = draw(ids)  # else a UUID4 is generated
    where = ActionRequestModel(
        uri=draw(ids),
        time=draw(optional_datetimes),
        ip_address=draw(optional_text),
        user_agent_string=draw(optional_text),
    )
    return ActionModel(
        action_name=draw(ids),
        request=where,
        session_token=draw(optional_text),
        user_id=draw(optional_text),
        company_id=draw(optional_text),
        subscription_id=draw(optional_text),
        metadata=draw(metadata),
        **extra,
    )


subscription_items = st.builds(
    SubscriptionItemModel,
    plan_id=ids,
    subscription_item_id=optional_text,
    price_id=optional_text,
    unit_of_measure=optional_text,
    created_at=optional_datetimes,
    metadata=metadata,
)

subscriptions = st.builds(
    SubscriptionModel,
    subscription_id=ids,
    company_id=ids,
    status=optional_text,
    current_period_start=optional_datetimes,
    current_period_end=optional_datetimes,
    items=st.none() | st.lists(subscription_items, max_size=3),
    metadata=metadata,
)


# --- read models: what GET /config and GET /rules answer ---

# Keys no read model has a field for, so they land in `extra`.
new_keys = st.text(min_size=1, max_size=8).map(lambda key: f"new_{key}")
extras = st.dictionaries(new_keys, json_values, max_size=2)
rates = st.integers(min_value=0, max_value=100)
regex_conditions = st.builds(RegexCondition, path=ids, value=text, extra=extras)
regex_sampling_rules = st.builds(
    RegexSamplingRule,
    conditions=st.lists(regex_conditions, max_size=2),
    sample_rate=rates,
    extra=extras,
)
rule_entries = st.dictionaries(
    ids,
    st.lists(
        st.builds(
            EntityRuleValues,
            rules=ids,
            values=st.dictionaries(text, text, max_size=2),
            extra=extras,
        ),
        max_size=2,
    ),
    max_size=2,
)
app_configs = st.builds(
    AppConfig,
    org_id=optional_text,
    app_id=optional_text,
    sample_rate=st.none() | rates,
    block_bot_traffic=st.none() | st.booleans(),
    user_sample_rate=st.dictionaries(text, rates, max_size=3),
    company_sample_rate=st.dictionaries(text, rates, max_size=3),
    user_rules=rule_entries,
    company_rules=rule_entries,
    regex_config=st.lists(regex_sampling_rules, max_size=2),
    extra=extras,
)
governance_rules = st.builds(
    GovernanceRule,
    id=optional_text,
    name=optional_text,
    type=st.sampled_from([None, "regex", "user", "company"]),
    block=st.none() | st.booleans(),
    applied_to=st.sampled_from([None, "matching", "not_matching"]),
    applied_to_unidentified=st.none() | st.booleans(),
    response=st.none()
    | st.builds(
        GovernanceResponse,
        status=st.none() | st.integers(min_value=100, max_value=599),
        headers=st.dictionaries(text, text, max_size=2),
        body=json_values,
        extra=extras,
    ),
    variables=st.lists(st.builds(RuleVariable, name=text, path=text, extra=extras), max_size=2),
    regex_config=st.lists(
        st.builds(
            RegexConditionGroup, conditions=st.lists(regex_conditions, max_size=2), extra=extras
        ),
        max_size=2,
    ),
    state=st.none() | st.integers(),
    created_at=optional_datetimes,
    extra=extras,
)


def round_trip(model: Any) -> Any:
    return from_dict(type(model), json.loads(to_json(model)))


# --- the properties ---


@EXAMPLES
@given(events())
def test_any_event_round_trips(event: EventModel) -> None:
    assert round_trip(event) == event


@EXAMPLES
@given(users)
def test_any_user_round_trips(user: UserModel) -> None:
    assert round_trip(user) == user


@EXAMPLES
@given(companies)
def test_any_company_round_trips(company: CompanyModel) -> None:
    assert round_trip(company) == company


@EXAMPLES
@given(actions())
def test_any_action_round_trips(action: ActionModel) -> None:
    assert round_trip(action) == action


@EXAMPLES
@given(subscriptions)
def test_any_subscription_round_trips(subscription: SubscriptionModel) -> None:
    assert round_trip(subscription) == subscription


@EXAMPLES
@given(st.one_of(app_configs, governance_rules))
def test_any_read_model_round_trips_with_its_unknown_keys(model: Any) -> None:
    assert round_trip(model) == model


@EXAMPLES
@given(app_configs)
def test_integers_written_as_floats_read_as_the_same_config(config: AppConfig) -> None:
    wire = json.loads(to_json(config))
    if "sample_rate" in wire:
        wire["sample_rate"] = float(wire["sample_rate"])
    wire["user_sample_rate"] = {key: float(rate) for key, rate in wire["user_sample_rate"].items()}
    for rule in wire["regex_config"]:
        rule["sample_rate"] = float(rule["sample_rate"])

    assert from_dict(AppConfig, wire) == config


@EXAMPLES
@given(st.one_of(events(), users, companies, actions(), subscriptions))
def test_serializing_a_parsed_model_gives_the_same_bytes(model: Any) -> None:
    wire = to_json(model)

    assert to_json(from_dict(type(model), json.loads(wire))) == wire


WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@EXAMPLES
@given(events())
def test_event_times_on_the_wire_are_utc_with_milliseconds(event: EventModel) -> None:
    wire = json.loads(to_json(event))

    assert WIRE_TIME.fullmatch(wire["request"]["time"])
    if "response" in wire:
        assert WIRE_TIME.fullmatch(wire["response"]["time"])
