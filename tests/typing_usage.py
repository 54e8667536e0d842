# mypy: disallow-any-expr
"""Type-checked by `mypy --strict` in CI: what users write must get precise types.

This file is never run. `assert_type` fails the check when a type is wrong, including
when it is `Any`, and the `disallow-any-expr` line above makes any expression that
evaluates to `Any` an error, so no `Any` leaks from the public API into user code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Literal

import httpx
from typing_extensions import assert_type

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AppConfig,
    AsyncMoesifClient,
    CampaignModel,
    CompanyModel,
    Direction,
    EntityRuleValues,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    GovernanceResponse,
    GovernanceRule,
    Health,
    MoesifClient,
    MoesifError,
    RegexConditionGroup,
    RuleVariable,
    SpanLink,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    from_dict,
    mask_body_fields,
    mask_headers,
    to_dict,
    to_json,
    truncate_bodies,
)

# --- building models: every input form the docs show type-checks ---

request = EventRequestModel(
    time=datetime.now(timezone.utc), uri="https://x.test/a", verb="GET", headers={}
)
request_from_text = EventRequestModel(
    time="2024-05-01T12:00:00Z",
    uri="https://x.test/a",
    verb="POST",
    headers={"Accept": ["text/html", "application/json"]},
    body=b"\x08\x96\x01",
)
response = EventResponseModel(
    time=datetime(2024, 5, 1, 12, 0, 0, 250000),
    status=200,
    headers=httpx.Headers([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]),
    body={"ok": True},
)
event = EventModel(
    request=request,
    response=response,
    user_id="u1",
    direction="Incoming",
    weight=2,
    metadata={"plan": "pro", "seats": 3, "tags": ["a", "b"]},
)
user = UserModel(user_id="u1", campaign=CampaignModel(utm_source="newsletter"))
company = CompanyModel(company_id="c1", modified_time="2024-05-01T12:00:00Z")
action = ActionModel(action_name="Signed Up", request=ActionRequestModel(uri="/signup"))
subscription = SubscriptionModel(
    subscription_id="s1",
    company_id="c1",
    items=[SubscriptionItemModel(plan_id="pro", unit_of_measure="seat")],
)

# --- attribute types are precise ---

assert_type(event.request, EventRequestModel)
assert_type(event.response, EventResponseModel | None)
assert_type(event.transaction_id, str)
assert_type(event.user_id, str | None)
assert_type(event.direction, Direction | None)
assert_type(event.weight, int | None)
assert_type(event.metadata, Mapping[str, object] | None)
assert_type(request.time, datetime)
assert_type(request.headers, dict[str, str])
assert_type(request.uri, str)
assert_type(request.verb, str)
assert_type(request.body, object)
assert_type(request.transfer_encoding, str | None)
assert_type(response.status, int)
assert_type(user.user_id, str)
assert_type(user.modified_time, datetime | None)
assert_type(user.campaign, CampaignModel | None)
assert_type(company.company_id, str)
assert_type(action.request.time, datetime | None)
assert_type(action.transaction_id, str)
assert_type(subscription.items, list[SubscriptionItemModel] | None)
assert_type(subscription.current_period_end, datetime | None)

# --- the wire helpers ---

assert_type(from_dict(UserModel, {"user_id": "u1"}), UserModel)
assert_type(from_dict(EventModel, {"request": {}}), EventModel)
assert_type(from_dict(AppConfig, {}), AppConfig)
assert_type(from_dict(GovernanceRule, {"_id": "r1"}).id, str | None)
assert_type(from_dict(AppConfig, {}).sample_rate, int | None)
assert_type(to_json(event), bytes)
assert_type(to_json([user, UserModel(user_id="u2")]), bytes)
assert_type(to_json(u for u in [user]), bytes)
assert_type(to_dict(event), dict[str, object])

parsed_users: list[UserModel] = [from_dict(UserModel, item) for item in [{"user_id": "a"}]]
first_id: str = parsed_users[0].user_id

# --- spans, and the typed parts of the app config and governance rules ---

span = SpanModel(id="00f067aa0ba902b7", parent_id="b3c3", links=["53995c3f", {"span_id": "a"}])
traced = EventModel(request=request, span=span, weight=0)
assert_type(traced.span, SpanModel | None)
assert_type(span.links, list[SpanLink] | None)
assert_type(span.status, int | None)
assert_type(request.content_length, int | None)
assert_type(SubscriptionItemModel(plan_id="p").created_at, datetime | None)

config = from_dict(AppConfig, {})
path: str = config.regex_config[0].conditions[0].path
pattern: str = config.regex_config[0].conditions[0].value
regex_rate: int = config.regex_config[0].sample_rate
user_rate: int | None = config.user_sample_rate.get("u1")
assert_type(config.user_sample_rate, Mapping[str, int])
assert_type(config.company_rules, Mapping[str, list[EntityRuleValues]])
assert_type(config.user_rules["u1"][0].values, Mapping[str, str])
assert_type(config.extra, Mapping[str, object])

rule = from_dict(GovernanceRule, {"_id": "r1"})
assert_type(rule.type, Literal["regex", "user", "company"] | None)
assert_type(rule.applied_to, Literal["matching", "not_matching"] | None)
assert_type(rule.response, GovernanceResponse | None)
assert_type(rule.variables, list[RuleVariable])
assert_type(rule.regex_config, list[RegexConditionGroup])
variable_path: str = rule.variables[0].path
condition_value: str = rule.regex_config[0].conditions[0].value
if rule.response is not None:
    assert_type(rule.response.status, int | None)
    assert_type(rule.response.headers, Mapping[str, str])

# --- limits and masking ---

assert_type(truncate_bodies(event), EventModel)
assert_type(truncate_bodies(event, max_bytes=1000), EventModel)
assert_type(mask_headers({"authorization": "t"}, ["Authorization"]), dict[str, str])
assert_type(mask_headers(httpx.Headers(), ("Cookie",), mask="<masked>"), dict[str, str])
assert_type(mask_body_fields({"password": "p"}, {"password"}), object)

# --- the health probe ---


def probe(client: MoesifClient) -> None:
    health = client.check_health()
    assert_type(health, Health)
    assert_type(health.status, bool)
    assert_type(health.region, str)
    assert_type(health.extra, Mapping[str, object])


async def probe_async(client: AsyncMoesifClient) -> None:
    assert_type(await client.check_health(), Health)


suffixed = MoesifClient(application_id="app", user_agent_suffix="acme-gateway/2.1")

# --- errors ---

try:
    UserModel(user_id="")
except ValidationError as error:
    assert_type(error.field, str | None)
    assert_type(error.reason, str)
    as_value_error: ValueError = error
    as_moesif_error: MoesifError = error
