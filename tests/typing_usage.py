# mypy: disallow-any-expr
"""Type-checked by `mypy --strict` in CI: what users write must get precise types.

This file is never run. `assert_type` fails the check when a type is wrong, including
when it is `Any`, and the `disallow-any-expr` line above makes any expression that
evaluates to `Any` an error, so no `Any` leaks from the public API into user code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import httpx
from typing_extensions import assert_type

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AppConfig,
    CampaignModel,
    CompanyModel,
    Direction,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    GovernanceRule,
    MoesifError,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    from_dict,
    to_dict,
    to_json,
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
    items=[SubscriptionItemModel(plan_id="pro", quantity=1)],
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

# --- errors ---

try:
    UserModel(user_id="")
except ValidationError as error:
    assert_type(error.field, str | None)
    assert_type(error.reason, str)
    as_value_error: ValueError = error
    as_moesif_error: MoesifError = error
