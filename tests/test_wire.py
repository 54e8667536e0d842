"""The wire format: what `to_dict` / `to_json` write and what `from_dict` reads back."""

from __future__ import annotations

import contextlib
import enum
import io
import json
import re
import subprocess
import sys
import types
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from moesifapi import (
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
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    from_dict,
    to_dict,
    to_json,
)

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def request(**changes: Any) -> EventRequestModel:
    fields: dict[str, Any] = {"time": WHEN, "uri": "https://x.test/a", "verb": "GET", "headers": {}}
    return EventRequestModel(**{**fields, **changes})


def metadata_out(value: object) -> object:
    """`value` as it comes out of to_json when stored under metadata key "v"."""
    return json.loads(to_json(UserModel(user_id="u", metadata={"v": value})))["metadata"]["v"]


# --- what to_dict / to_json write ---


def test_unset_optional_fields_are_omitted_from_to_dict() -> None:
    assert to_dict(UserModel(user_id="u1")) == {"user_id": "u1"}
    assert to_dict(CampaignModel()) == {}


def test_unset_optional_fields_are_never_written_as_null() -> None:
    event = EventModel(
        request=request(),
        response=EventResponseModel(time=WHEN, status=204, headers={}),
        transaction_id="t1",
    )

    raw = to_json(event)

    assert b"null" not in raw
    assert json.loads(raw) == {
        "request": {
            "time": "2024-05-01T12:00:00.000Z",
            "uri": "https://x.test/a",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": "2024-05-01T12:00:00.000Z", "status": 204, "headers": {}},
        "transaction_id": "t1",
    }


def test_null_inside_metadata_is_kept() -> None:
    out = json.loads(to_json(UserModel(user_id="u", metadata={"nickname": None})))

    assert out == {"user_id": "u", "metadata": {"nickname": None}}


def test_falsy_values_that_are_set_are_written() -> None:
    user = UserModel(user_id="u", company_id="", metadata={})
    response = EventResponseModel(time=WHEN, status=200, headers={}, body=0)

    assert to_dict(user) == {"user_id": "u", "company_id": "", "metadata": {}}
    assert to_dict(response)["body"] == 0


def test_timestamps_are_written_in_utc_with_milliseconds_and_z() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    user = UserModel(user_id="u", modified_time=datetime(2024, 5, 1, 17, 30, 0, 5, tzinfo=kolkata))

    assert to_dict(user)["modified_time"] == "2024-05-01T12:00:00.000Z"


def test_naive_datetime_is_written_as_utc() -> None:
    company = CompanyModel(company_id="c", modified_time=datetime(2024, 5, 1, 9, 15, 0, 250000))

    assert to_dict(company)["modified_time"] == "2024-05-01T09:15:00.250Z"


def test_bytes_body_goes_out_as_base64_and_parses_back_to_the_same_bytes() -> None:
    payload = b"\x00\xff protobuf\x08\x96\x01"
    event = EventModel(request=request(body=payload))

    wire = json.loads(to_json(event))
    parsed = from_dict(EventModel, wire)

    assert wire["request"]["body"] == "AP8gcHJvdG9idWYIlgE="
    assert wire["request"]["transfer_encoding"] == "base64"
    assert parsed.request.body == payload
    assert parsed == event


def test_json_body_is_written_as_json_not_as_a_string() -> None:
    body = {"items": [{"id": 1}], "ok": True}

    wire = json.loads(to_json(EventModel(request=request(body=body))))

    assert wire["request"]["body"] == body
    assert "transfer_encoding" not in wire["request"]


def test_nested_models_are_written_as_objects() -> None:
    subscription = SubscriptionModel(
        subscription_id="s1",
        company_id="c1",
        items=[SubscriptionItemModel(plan_id="pro", unit_of_measure="seat")],
    )
    user = UserModel(user_id="u", campaign=CampaignModel(utm_source="newsletter"))

    assert to_dict(subscription)["items"] == [{"plan_id": "pro", "unit_of_measure": "seat"}]
    assert to_dict(user)["campaign"] == {"utm_source": "newsletter"}


def test_to_json_writes_compact_utf8_without_escaping() -> None:
    out = to_json(UserModel(user_id="zoë", metadata={"city": "東京", "note": "a, b"}))

    assert out == '{"user_id":"zoë","metadata":{"city":"東京","note":"a, b"}}'.encode()


def test_to_json_of_a_list_is_an_array_in_the_given_order() -> None:
    users = [UserModel(user_id=name) for name in ("c", "a", "b")]

    assert to_json(users) == b'[{"user_id":"c"},{"user_id":"a"},{"user_id":"b"}]'


def test_to_json_of_an_empty_list_is_an_empty_array() -> None:
    assert to_json([]) == b"[]"


def test_to_json_rejects_a_plain_dict() -> None:
    with pytest.raises(ValidationError, match="from_dict"):
        to_json({"user_id": "u"})  # type: ignore[arg-type]


def test_to_json_rejects_an_item_that_is_not_a_model_naming_its_index() -> None:
    with pytest.raises(ValidationError) as info:
        to_json([UserModel(user_id="u"), {"user_id": "v"}])  # type: ignore[list-item]

    assert info.value.field == "[1]"


def test_to_dict_leaves_metadata_values_for_to_json_to_encode() -> None:
    moment = datetime(2024, 5, 1, tzinfo=UTC)

    assert to_dict(UserModel(user_id="u", metadata={"at": moment}))["metadata"] == {"at": moment}


# --- what from_dict reads ---


def test_from_dict_accepts_null_for_optional_fields() -> None:
    user = from_dict(
        UserModel,
        {"user_id": "u", "company_id": None, "modified_time": None, "campaign": None},
    )

    assert user == UserModel(user_id="u")


def test_from_dict_takes_naive_timestamps_as_utc() -> None:
    user = from_dict(UserModel, {"user_id": "u", "modified_time": "2017-02-22T04:45:42.914"})

    assert user.modified_time == datetime(2017, 2, 22, 4, 45, 42, 914000, tzinfo=UTC)


def test_from_dict_accepts_plus_zero_offset_timestamps() -> None:
    with_offset = from_dict(
        UserModel, {"user_id": "u", "modified_time": "2017-02-22T04:45:42+00:00"}
    )
    with_z = from_dict(UserModel, {"user_id": "u", "modified_time": "2017-02-22T04:45:42Z"})

    assert with_offset.modified_time == with_z.modified_time
    assert to_dict(with_offset)["modified_time"] == "2017-02-22T04:45:42.000Z"


def test_from_dict_reads_nested_lists_of_models() -> None:
    subscription = from_dict(
        SubscriptionModel,
        {
            "subscription_id": "s1",
            "company_id": "c1",
            "current_period_start": "2024-05-01T00:00:00Z",
            "items": [{"plan_id": "pro", "price_id": "p_1"}, {"plan_id": "team"}],
        },
    )

    assert subscription.items == [
        SubscriptionItemModel(plan_id="pro", price_id="p_1"),
        SubscriptionItemModel(plan_id="team"),
    ]


# --- read models: server answers ---


def test_governance_rule_maps_json_underscore_id_to_id() -> None:
    rule = from_dict(GovernanceRule, {"_id": "r1", "name": "Block bots", "block": True})

    assert rule.id == "r1"
    assert rule.name == "Block bots"
    assert to_dict(rule) == {
        "_id": "r1",
        "name": "Block bots",
        "block": True,
        "variables": [],
        "regex_config": [],
    }


def test_governance_rule_keeps_unknown_keys_in_extra() -> None:
    rule = from_dict(GovernanceRule, {"_id": "r1", "added_next_year": {"x": 1}, "priority": 3})

    assert rule == GovernanceRule(id="r1", extra={"added_next_year": {"x": 1}, "priority": 3})


def test_app_config_keeps_unknown_keys_in_extra() -> None:
    config = from_dict(AppConfig, {"org_id": "o1", "sample_rate": 50, "new_setting": [1, 2]})

    assert config == AppConfig(org_id="o1", sample_rate=50, extra={"new_setting": [1, 2]})


def test_app_config_etag_is_not_part_of_the_json() -> None:
    config = AppConfig(app_id="a1", etag='"v2"')

    assert to_dict(config) == {
        "app_id": "a1",
        "user_sample_rate": {},
        "company_sample_rate": {},
        "user_rules": {},
        "company_rules": {},
        "regex_config": [],
    }


def test_write_models_reject_unknown_keys_that_read_models_keep() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(CompanyModel, {"company_id": "c", "new_setting": 1})

    assert info.value.field == "new_setting"


def test_a_nested_write_model_rejects_an_unknown_key_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="did you mean 'plan_id'") as info:
        from_dict(
            SubscriptionModel,
            {"subscription_id": "s", "company_id": "c", "items": [{"plan_idd": "p"}]},
        )

    assert info.value.field == "items[0].plan_idd"


# A GET /config answer with every part typed, a key Moesif may add one day at each
# level, and integers written as floats.
CONFIG_JSON: dict[str, Any] = {
    "org_id": "o1",
    "app_id": "a1",
    "sample_rate": 50.0,
    "user_sample_rate": {"u1": 10, "u2": 25.0},
    "company_sample_rate": {"c1": 0},
    "user_rules": {"u1": [{"rules": "r1", "values": {"0": "rome"}, "added": True}]},
    "company_rules": {},
    "regex_config": [
        {
            "conditions": [{"path": "request.route", "value": "/health/.*", "flags": "i"}],
            "sample_rate": 0.0,
            "priority": 1,
        }
    ],
    "new_top_level_setting": {"x": [1, 2]},
}


def test_app_config_reads_typed_sampling_and_rule_entries() -> None:
    config = from_dict(AppConfig, CONFIG_JSON)

    assert config.sample_rate == 50
    assert config.user_sample_rate == {"u1": 10, "u2": 25}
    assert config.company_sample_rate == {"c1": 0}
    assert config.regex_config == [
        RegexSamplingRule(
            conditions=[
                RegexCondition(path="request.route", value="/health/.*", extra={"flags": "i"})
            ],
            sample_rate=0,
            extra={"priority": 1},
        )
    ]
    assert config.user_rules == {
        "u1": [EntityRuleValues(rules="r1", values={"0": "rome"}, extra={"added": True})]
    }
    assert config.extra == {"new_top_level_setting": {"x": [1, 2]}}


def test_integral_floats_from_the_server_become_ints() -> None:
    config = from_dict(AppConfig, CONFIG_JSON)

    assert type(config.sample_rate) is int
    assert {type(rate) for rate in config.user_sample_rate.values()} == {int}
    assert type(config.regex_config[0].sample_rate) is int


def test_a_fractional_float_for_an_int_is_still_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(AppConfig, {"regex_config": [{"conditions": [], "sample_rate": 12.5}]})

    assert info.value.field == "regex_config[0].sample_rate"


def test_a_float_for_an_int_in_a_write_model_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(EventModel, {"request": to_dict(request()), "weight": 2.0})

    assert info.value.field == "weight"


def test_a_read_model_writes_its_unknown_keys_back_out() -> None:
    config = from_dict(AppConfig, CONFIG_JSON)

    out = to_dict(config)

    assert out["new_top_level_setting"] == {"x": [1, 2]}
    assert out["regex_config"][0]["priority"] == 1
    assert out["regex_config"][0]["conditions"][0] == {
        "path": "request.route",
        "value": "/health/.*",
        "flags": "i",
    }
    assert from_dict(AppConfig, out) == config


def test_a_known_key_wins_over_the_same_key_in_extra() -> None:
    assert to_dict(RuleVariable(name="0", path="a", extra={"path": "b"})) == {
        "name": "0",
        "path": "a",
    }


# The reference's Get Rules example, with a state (Moesif's Rack middleware shows one)
# and a key the reference does not list.
RULE_JSON: dict[str, Any] = {
    "_id": "64ca685a833073c6b41b15f3",
    "created_at": "2024-10-01T00:00:00.000",
    "name": "Block Free Users who Exceeded their Monthly Quota",
    "block": True,
    "type": "user",
    "state": 2.0,
    "applied_to": "matching",
    "applied_to_unidentified": False,
    "variables": [{"name": "0", "path": "body.plan_name"}, {"name": "1", "path": "body.quota"}],
    "regex_config": [
        {"conditions": [{"path": "request.route", "value": "/v1/.*"}]},
        {"conditions": [{"path": "request.verb", "value": "POST"}]},
    ],
    "response": {
        "status": 429.0,
        "headers": {"X-Rate-Limit-Month": "{{1}}"},
        "body": {"error_code": "too_many_requests", "message": "Over {{1}} on {{0}}."},
    },
    "cohorts": [{"id": "645c3793cba73323bb0760e6"}],
}


def test_a_governance_rule_reads_typed_parts() -> None:
    rule = from_dict(GovernanceRule, RULE_JSON)

    assert (rule.id, rule.type, rule.applied_to, rule.state) == (
        "64ca685a833073c6b41b15f3",
        "user",
        "matching",
        2,
    )
    assert rule.created_at == datetime(2024, 10, 1, tzinfo=UTC)
    assert rule.variables == [
        RuleVariable(name="0", path="body.plan_name"),
        RuleVariable(name="1", path="body.quota"),
    ]
    assert rule.response == GovernanceResponse(
        status=429,
        headers={"X-Rate-Limit-Month": "{{1}}"},
        body={"error_code": "too_many_requests", "message": "Over {{1}} on {{0}}."},
    )
    assert rule.extra == {"cohorts": [{"id": "645c3793cba73323bb0760e6"}]}


def test_a_governance_rules_regex_config_is_a_list_of_condition_groups() -> None:
    rule = from_dict(GovernanceRule, RULE_JSON)

    assert rule.regex_config == [
        RegexConditionGroup(conditions=[RegexCondition(path="request.route", value="/v1/.*")]),
        RegexConditionGroup(conditions=[RegexCondition(path="request.verb", value="POST")]),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "plan"}, "type"),
        ({"applied_to": "everyone"}, "applied_to"),
        ({"variables": [{"name": "0"}]}, "variables[0].path"),
        ({"response": {"headers": {"X-N": 1}}}, "response.headers.X-N"),
    ],
)
def test_a_governance_rule_with_a_known_key_of_the_wrong_kind_is_refused(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(GovernanceRule, {**RULE_JSON, **changes})

    assert info.value.field == field


# --- metadata encoding ---


class Tier(enum.Enum):
    GOLD = "gold"


class Level(enum.Enum):
    HIGH = 3


CAIRO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=CAIRO),
            "2024-05-01T12:00:00.123Z",
            id="aware-datetime-to-utc-z",
        ),
        pytest.param(datetime(2024, 5, 1, 12, 0), "2024-05-01T12:00:00.000Z", id="naive-datetime"),
        pytest.param(date(2024, 5, 1), "2024-05-01", id="date"),
        pytest.param(Decimal("42"), 42, id="decimal-integral"),
        pytest.param(Decimal("42.00"), 42, id="decimal-integral-with-zeros"),
        pytest.param(Decimal("19.95"), 19.95, id="decimal-fractional"),
        pytest.param(
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "12345678-1234-5678-1234-567812345678",
            id="uuid",
        ),
        pytest.param(Tier.GOLD, "gold", id="enum-str-value"),
        pytest.param(Level.HIGH, 3, id="enum-int-value"),
        pytest.param((1, "two"), [1, "two"], id="tuple-as-array"),
        pytest.param(types.MappingProxyType({"a": 1}), {"a": 1}, id="read-only-mapping"),
        pytest.param(
            [{"at": datetime(2024, 1, 1, tzinfo=UTC)}],
            [{"at": "2024-01-01T00:00:00.000Z"}],
            id="datetime-nested-in-list",
        ),
    ],
)
def test_metadata_values_json_lacks_are_encoded(value: object, expected: object) -> None:
    out = metadata_out(value)

    assert out == expected
    assert type(out) is type(expected)


def test_decimal_integral_is_written_as_a_json_integer() -> None:
    assert to_json(UserModel(user_id="u", metadata={"n": Decimal("10")})).endswith(b'{"n":10}}')


def test_metadata_given_as_a_read_only_mapping_is_written() -> None:
    user = UserModel(user_id="u", metadata=types.MappingProxyType({"plan": "pro"}))

    assert to_json(user) == b'{"user_id":"u","metadata":{"plan":"pro"}}'


class Opaque:
    pass


@pytest.mark.parametrize(
    ("metadata", "field", "reason"),
    [
        pytest.param({"tags": {"a", "b"}}, "metadata.tags", "pass a list", id="set"),
        pytest.param({"tags": frozenset({1})}, "metadata.tags", "pass a list", id="frozenset"),
        pytest.param({"a": [1, 2, b"raw"]}, "metadata.a[2]", "bytes", id="bytes-in-list"),
        pytest.param({"x": Opaque()}, "metadata.x", "Opaque", id="arbitrary-object"),
        pytest.param({"a": float("nan")}, "metadata.a", "finite", id="nan"),
        pytest.param({"a": {"b": [0.5, float("inf")]}}, "metadata.a.b[1]", "finite", id="inf"),
        pytest.param({"low": -float("inf")}, "metadata.low", "finite", id="minus-inf"),
        pytest.param({"d": Decimal("NaN")}, "metadata.d", "finite", id="decimal-nan"),
        pytest.param({"d": Decimal("-Infinity")}, "metadata.d", "finite", id="decimal-inf"),
        pytest.param({"o": {"p": {"q": {1, 2}}}}, "metadata.o.p.q", "set", id="deeply-nested"),
    ],
)
def test_unencodable_metadata_is_a_validation_error_naming_the_path(
    metadata: dict[str, object], field: str, reason: str
) -> None:
    user = UserModel(user_id="u", metadata=metadata)

    with pytest.raises(ValidationError) as info:
        to_json(user)

    assert info.value.field == field
    assert reason in str(info.value)


def test_unencodable_value_in_a_json_body_names_the_body_path() -> None:
    event = EventModel(request=request(body={"ids": {1, 2}}))

    with pytest.raises(ValidationError) as info:
        to_json(event)

    assert info.value.field == "request.body.ids"


def test_unencodable_item_in_a_list_names_its_index_first() -> None:
    users = [UserModel(user_id="a"), UserModel(user_id="b", metadata={"x": {"set"}})]

    with pytest.raises(ValidationError) as info:
        to_json(users)

    assert info.value.field == "[1].metadata.x"
    assert str(info.value).startswith("[1].metadata.x: ")


# --- the example script ---


def test_build_event_example_runs_and_prints_json() -> None:
    script = ROOT / "examples" / "build_event.py"

    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr
    assert '"transaction_id"' in result.stdout
    assert "campaign.utm_sorce" in result.stdout


def test_every_code_example_in_the_models_docs_runs() -> None:
    page = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    examples = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)

    assert len(examples) >= 8
    for number, source in enumerate(examples):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"docs/models.md example {number}", "exec"), {})
