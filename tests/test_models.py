"""How the models normalize and validate what users give them.

Building a model either gives a value in the API's terms (UTC millisecond times,
one string per header, base64-able bodies) or raises `ValidationError` naming the
offending field — before anything is sent.
"""

from __future__ import annotations

import os
import random
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest
from mypy import api as mypy_api

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    CampaignModel,
    CompanyModel,
    EntityRuleValues,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifError,
    RegexCondition,
    RegexSamplingRule,
    RuleVariable,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    from_dict,
    models,
)

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REQUEST_JSON: dict[str, Any] = {
    "time": "2024-05-01T12:00:00.000Z",
    "uri": "https://api.example.com/v1/items",
    "verb": "GET",
    "headers": {},
}
RESPONSE_JSON: dict[str, Any] = {"time": "2024-05-01T12:00:00.250Z", "status": 200, "headers": {}}


def request(**changes: Any) -> EventRequestModel:
    fields: dict[str, Any] = {
        "time": WHEN,
        "uri": "https://api.example.com/v1/items",
        "verb": "GET",
        "headers": {},
    }
    return EventRequestModel(**{**fields, **changes})


def response(**changes: Any) -> EventResponseModel:
    fields: dict[str, Any] = {"time": WHEN, "status": 200, "headers": {}}
    return EventResponseModel(**{**fields, **changes})


def is_uuid4(text: str) -> bool:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == text


# --- headers ---


def test_repeated_headers_given_as_a_list_are_joined_with_comma_space() -> None:
    built = request(headers={"Accept": ["text/html", "application/json"], "Host": "x.test"})

    assert built.headers == {"Accept": "text/html, application/json", "Host": "x.test"}


def test_repeated_headers_given_as_a_tuple_are_joined_with_comma_space() -> None:
    built = response(headers={"Vary": ("Accept", "Accept-Encoding")})

    assert built.headers == {"Vary": "Accept, Accept-Encoding"}


def test_httpx_headers_with_repeats_are_joined_with_comma_space() -> None:
    headers = httpx.Headers([("Set-Cookie", "a=1"), ("X-Id", "7"), ("set-cookie", "b=2")])

    built = response(headers=headers)

    assert built.headers == {"Set-Cookie": "a=1, b=2", "X-Id": "7"}


def test_httpx_headers_keep_the_spelling_of_the_first_name() -> None:
    headers = httpx.Headers([("x-trace", "a"), ("X-TRACE", "b")])

    assert request(headers=headers).headers == {"x-trace": "a, b"}


def test_plain_string_headers_are_kept_as_given() -> None:
    headers = {"Content-Type": "application/json", "X-Empty": ""}

    assert request(headers=headers).headers == headers


# --- timestamps ---


def test_aware_datetime_in_another_zone_is_converted_to_utc() -> None:
    berlin = datetime(2024, 5, 1, 14, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # CEST, +02:00

    built = request(time=berlin)

    assert built.time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert built.time.utcoffset() == timedelta(0)


def test_naive_datetime_is_taken_as_utc() -> None:
    built = UserModel(user_id="u1", modified_time=datetime(2024, 5, 1, 12, 30))

    assert built.modified_time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_microseconds_are_cut_to_milliseconds_not_rounded() -> None:
    built = response(time=datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC))

    assert built.time == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_iso_8601_string_with_an_offset_is_parsed_to_utc() -> None:
    built = ActionRequestModel(uri="/signup", time="2024-05-01T17:30:00.5+05:30")

    assert built.time == datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_naive_iso_8601_string_is_taken_as_utc() -> None:
    built = CompanyModel(company_id="c1", modified_time="2017-02-22T04:45:42.914")

    assert built.modified_time == datetime(2017, 2, 22, 4, 45, 42, 914000, tzinfo=UTC)


# --- bodies ---


def test_bytes_body_sets_transfer_encoding_to_base64() -> None:
    built = request(body=b"\x08\x96\x01")

    assert built.body == b"\x08\x96\x01"
    assert built.transfer_encoding == "base64"


def test_bytearray_body_is_stored_as_bytes() -> None:
    built = response(body=bytearray(b"\x00\xff"))

    assert built.body == b"\x00\xff"
    assert type(built.body) is bytes


def test_base64_text_body_marked_base64_is_decoded_to_bytes() -> None:
    built = response(body="aGVsbG8=", transfer_encoding="base64")

    assert built.body == b"hello"


def test_json_body_is_kept_as_given() -> None:
    body = {"items": [{"id": 1, "liked": False}], "note": None}

    built = request(body=body)

    assert built.body == body
    assert built.transfer_encoding is None


# --- transaction ids ---


def test_events_get_distinct_uuid4_transaction_ids() -> None:
    first, second = EventModel(request=request()), EventModel(request=request())

    assert is_uuid4(first.transaction_id)
    assert is_uuid4(second.transaction_id)
    assert first.transaction_id != second.transaction_id


def test_actions_get_distinct_uuid4_transaction_ids() -> None:
    where = ActionRequestModel(uri="https://app.example.com/signup")
    first = ActionModel(action_name="Signed Up", request=where)
    second = ActionModel(action_name="Signed Up", request=where)

    assert is_uuid4(first.transaction_id)
    assert is_uuid4(second.transaction_id)
    assert first.transaction_id != second.transaction_id


def test_generated_transaction_ids_are_random_uuid4s_in_every_bit_uuid4_leaves_random() -> None:
    ids = [EventModel(request=request()).transaction_id for _ in range(4000)]
    parsed = [uuid.UUID(text) for text in ids]

    assert [str(u) for u in parsed] == ids  # the canonical, lower-case text
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(ids)) == len(ids)
    # Each of the 122 random bits takes both values somewhere in 4,000 ids (a bit stuck
    # at one value by mistake would show here; chance alone, about 1 in 2**3900).
    random_bits = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    ones = zeros = 0
    for u in parsed:
        ones |= u.int
        zeros |= ~u.int
    assert ones & random_bits == random_bits
    assert zeros & random_bits == random_bits


def test_an_app_seeding_random_does_not_make_transaction_ids_repeat() -> None:
    state = random.getstate()
    try:
        random.seed(42)
        first = EventModel(request=request()).transaction_id
        random.seed(42)
        second = EventModel(request=request()).transaction_id
    finally:
        random.setstate(state)
    assert first != second


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_transaction_ids_of_its_own() -> None:
    # Workers forked from one parent (gunicorn --preload) must not log the same ids.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ids = [EventModel(request=request()).transaction_id for _ in range(50)]
            os.write(write_end, "\n".join(ids).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reading:
        child = set(reading.read().decode().split())
    os.waitpid(pid, 0)
    parent = {EventModel(request=request()).transaction_id for _ in range(50)}
    assert len(child) == 50
    assert not child & parent


def test_an_explicit_transaction_id_is_kept() -> None:
    event = EventModel(request=request(), transaction_id="retry-42")
    action = ActionModel(
        action_name="Clicked Buy", request=ActionRequestModel(uri="/buy"), transaction_id="t-9"
    )

    assert event.transaction_id == "retry-42"
    assert action.transaction_id == "t-9"


def test_from_dict_keeps_the_transaction_id_it_is_given() -> None:
    event = from_dict(EventModel, {"request": REQUEST_JSON, "transaction_id": "abc-123"})

    assert event.transaction_id == "abc-123"


# --- validation ---


def test_validation_error_is_a_value_error_and_a_moesif_error() -> None:
    with pytest.raises(ValueError, match="user_id") as info:
        UserModel(user_id="")

    assert isinstance(info.value, ValidationError)
    assert isinstance(info.value, MoesifError)


def test_validation_error_message_starts_with_the_field_path() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(
            EventModel, {"request": REQUEST_JSON, "response": {**RESPONSE_JSON, "status": 99}}
        )

    assert info.value.field == "response.status"
    assert str(info.value).startswith("response.status: ")
    assert "99" in info.value.reason


def test_assigning_a_bad_value_after_construction_is_rejected() -> None:
    user = UserModel(user_id="u1")

    with pytest.raises(ValidationError) as info:
        user.user_id = " "

    assert info.value.field == "user_id"


def test_assigning_a_time_after_construction_is_normalized() -> None:
    user = UserModel(user_id="u1")

    user.modified_time = "2024-05-01T14:00:00.123456+02:00"  # type: ignore[assignment]

    assert user.modified_time == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


OFFSET_PLUS_5 = timezone(timedelta(hours=5))

BAD_INPUTS = [
    # required text fields
    pytest.param(lambda: UserModel(user_id=""), "user_id", "empty", id="empty-user_id"),
    pytest.param(lambda: CompanyModel(company_id=""), "company_id", "empty", id="empty-company_id"),
    pytest.param(lambda: request(uri=""), "uri", "empty", id="empty-uri"),
    pytest.param(lambda: ActionRequestModel(uri=""), "uri", "empty", id="empty-action-uri"),
    pytest.param(lambda: request(verb=""), "verb", "empty", id="empty-verb"),
    pytest.param(
        lambda: ActionModel(action_name="", request=ActionRequestModel(uri="/x")),
        "action_name",
        "empty",
        id="empty-action_name",
    ),
    pytest.param(
        lambda: SubscriptionModel(subscription_id="", company_id="c1"),
        "subscription_id",
        "empty",
        id="empty-subscription_id",
    ),
    pytest.param(
        lambda: SubscriptionModel(subscription_id="s1", company_id=""),
        "company_id",
        "empty",
        id="empty-subscription-company_id",
    ),
    pytest.param(lambda: UserModel(user_id=" \t\n"), "user_id", "empty", id="whitespace-user_id"),
    pytest.param(
        lambda: EventModel(request=request(), transaction_id="  "),
        "transaction_id",
        "empty",
        id="whitespace-transaction_id",
    ),
    pytest.param(lambda: UserModel(user_id=42), "user_id", "string", id="int-user_id"),
    pytest.param(
        lambda: CompanyModel(company_id=None), "company_id", "string", id="none-company_id"
    ),
    pytest.param(
        lambda: EventModel(request=request(), user_id=7),
        "user_id",
        "string",
        id="int-event-user_id",
    ),
    # status
    pytest.param(lambda: response(status=99), "status", "between 100 and 599", id="status-99"),
    pytest.param(lambda: response(status=600), "status", "between 100 and 599", id="status-600"),
    pytest.param(lambda: response(status="200"), "status", "int", id="status-str"),
    pytest.param(lambda: response(status=True), "status", "int", id="status-bool"),
    pytest.param(lambda: response(status=200.0), "status", "int", id="status-float"),
    # times
    pytest.param(lambda: request(time="yesterday"), "time", "ISO 8601", id="time-unparseable"),
    pytest.param(lambda: request(time=1714564800), "time", "ISO 8601", id="time-int"),
    pytest.param(
        lambda: UserModel(user_id="u", modified_time=date(2024, 5, 1)),
        "modified_time",
        "ISO 8601",
        id="time-date",
    ),
    pytest.param(
        lambda: UserModel(user_id="u", modified_time=datetime(1, 1, 1, tzinfo=OFFSET_PLUS_5)),
        "modified_time",
        "out of range",
        id="time-before-year-1-in-utc",
    ),
    # direction, weight
    pytest.param(
        lambda: EventModel(request=request(), direction="Sideways"),
        "direction",
        "Incoming, Outgoing, Internal",
        id="direction-unknown",
    ),
    pytest.param(
        lambda: EventModel(request=request(), direction="incoming"),
        "direction",
        "Incoming",
        id="direction-wrong-case",
    ),
    pytest.param(
        lambda: EventModel(request=request(), direction=["Incoming"]),  # type: ignore[arg-type]
        "direction",
        "Incoming",
        id="direction-unhashable",
    ),
    pytest.param(
        lambda: EventModel(request=request(), weight=-3), "weight", "0 or more", id="w-neg"
    ),
    pytest.param(lambda: EventModel(request=request(), weight=True), "weight", "int", id="w-bool"),
    # content_length
    pytest.param(lambda: request(content_length=-1), "content_length", "0 or more", id="c-len-neg"),
    pytest.param(lambda: response(content_length="126"), "content_length", "int", id="c-len-str"),
    pytest.param(lambda: EventModel(request=request(), weight=2.0), "weight", "int", id="w-float"),
    # headers
    pytest.param(
        lambda: request(headers={"Content-Length": 126}),
        "headers.Content-Length",
        "header value",
        id="header-value-int",
    ),
    pytest.param(
        lambda: response(headers={"Vary": ["Accept", 1]}),
        "headers.Vary",
        "header value",
        id="header-list-with-int",
    ),
    pytest.param(lambda: request(headers={1: "x"}), "headers", "name", id="header-name-int"),
    pytest.param(lambda: request(headers=[("A", "b")]), "headers", "mapping", id="headers-list"),
    # metadata
    pytest.param(
        lambda: UserModel(user_id="u", metadata=["plan", "free"]),
        "metadata",
        "mapping",
        id="metadata-list",
    ),
    pytest.param(
        lambda: CompanyModel(company_id="c", metadata="plan=free"),
        "metadata",
        "mapping",
        id="metadata-str",
    ),
    pytest.param(
        lambda: EventModel(request=request(), metadata={1: "one"}),
        "metadata",
        "keys must be strings",
        id="metadata-int-key",
    ),
    # nested models given the wrong thing in code
    pytest.param(
        lambda: EventModel(request={"uri": "/x"}), "request", "EventRequestModel", id="request-dict"
    ),
    pytest.param(
        lambda: UserModel(user_id="u", campaign={"utm_source": "x"}),
        "campaign",
        "CampaignModel",
        id="campaign-dict",
    ),
    pytest.param(
        lambda: SubscriptionModel(
            subscription_id="s",
            company_id="c",
            items=[SubscriptionItemModel(plan_id="p"), {"plan_id": "p"}],
        ),
        "items[1]",
        "SubscriptionItemModel",
        id="items-with-dict",
    ),
    pytest.param(
        lambda: SubscriptionItemModel(plan_id="p", created_at="soon"),
        "created_at",
        "ISO 8601",
        id="item-created_at-unparseable",
    ),
    # spans
    pytest.param(
        lambda: EventModel(request=request(), span={"id": "a"}),
        "span",
        "SpanModel",
        id="span-dict",
    ),
    pytest.param(lambda: SpanModel(links="a1"), "links", "list", id="span-links-str"),
    pytest.param(lambda: SpanModel(links=["a1", 7]), "links[1]", "span id", id="span-link-int"),
    pytest.param(lambda: SpanModel(status="OK"), "status", "int", id="span-status-str"),
    # bodies
    pytest.param(
        lambda: request(body="not base64!", transfer_encoding="base64"),
        "body",
        "base64",
        id="body-invalid-base64",
    ),
    pytest.param(
        lambda: response(body={"a": 1}, transfer_encoding="base64"),
        "body",
        "base64",
        id="body-object-marked-base64",
    ),
    # from_dict: unknown, missing, null and mistyped keys
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": "u", "compnay_id": "c"}),
        "compnay_id",
        "did you mean 'company_id'",
        id="from_dict-unknown-top-level-key",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": "u", "campaign": {"utm_sorce": "news"}}),
        "campaign.utm_sorce",
        "did you mean 'utm_source'",
        id="from_dict-unknown-nested-key",
    ),
    pytest.param(
        lambda: from_dict(EventModel, {"request": {**REQUEST_JSON, "api_verison": "1"}}),
        "request.api_verison",
        "did you mean 'api_version'",
        id="from_dict-unknown-key-in-request",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"company_id": "c"}),
        "user_id",
        "required",
        id="from_dict-missing-user_id",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": None}),
        "user_id",
        "required",
        id="from_dict-null-user_id",
    ),
    pytest.param(
        lambda: from_dict(
            EventModel, {"request": {k: v for k, v in REQUEST_JSON.items() if k != "verb"}}
        ),
        "request.verb",
        "required",
        id="from_dict-missing-nested-verb",
    ),
    pytest.param(
        lambda: from_dict(
            EventModel, {"request": REQUEST_JSON, "response": {**RESPONSE_JSON, "status": None}}
        ),
        "response.status",
        "required",
        id="from_dict-null-nested-status",
    ),
    pytest.param(
        lambda: from_dict(EventModel, {"request": "GET /items"}),
        "request",
        "JSON object",
        id="from_dict-str-for-request",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": "u", "campaign": ["google"]}),
        "campaign",
        "JSON object",
        id="from_dict-list-for-campaign",
    ),
    pytest.param(
        lambda: from_dict(EventModel, {"request": {**REQUEST_JSON, "time": "soon"}}),
        "request.time",
        "ISO 8601",
        id="from_dict-bad-nested-time",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": "u", "modified_time": 1714564800}),
        "modified_time",
        "ISO 8601",
        id="from_dict-time-as-number",
    ),
    pytest.param(
        lambda: from_dict(
            SubscriptionModel,
            {"subscription_id": "s", "company_id": "c", "items": [{"plan_id": 2}]},
        ),
        "items[0].plan_id",
        "string",
        id="from_dict-bad-item-field",
    ),
    pytest.param(
        lambda: from_dict(
            SubscriptionModel,
            {
                "subscription_id": "s",
                "company_id": "c",
                "items": [{"plan_id": "p"}, {"plan": "pro"}],
            },
        ),
        "items[1].plan",
        "did you mean 'plan_id'",
        id="from_dict-unknown-key-in-second-item",
    ),
    pytest.param(
        lambda: from_dict(
            SubscriptionModel,
            {"subscription_id": "s", "company_id": "c", "items": {"plan_id": "p"}},
        ),
        "items",
        "JSON array",
        id="from_dict-items-not-a-list",
    ),
    pytest.param(
        lambda: from_dict(
            EventModel,
            {"request": {**REQUEST_JSON, "body": "%%%", "transfer_encoding": "base64"}},
        ),
        "request.body",
        "base64",
        id="from_dict-invalid-base64-body",
    ),
    pytest.param(
        lambda: from_dict(UserModel, {"user_id": "u", "metadata": "vip"}),
        "metadata",
        "mapping",
        id="from_dict-metadata-not-an-object",
    ),
]


@pytest.mark.parametrize(("build", "field", "reason"), BAD_INPUTS)
def test_bad_input_raises_validation_error_naming_the_field(
    build: Callable[[], object], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as info:
        build()

    assert info.value.field == field
    assert reason in str(info.value)


def test_from_dict_of_something_that_is_not_an_object_names_no_field() -> None:
    with pytest.raises(ValidationError, match="must be a JSON object, got list") as info:
        from_dict(UserModel, [{"user_id": "u"}])  # type: ignore[arg-type]

    assert info.value.field is None


def test_several_unknown_keys_are_all_listed() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(CampaignModel, {"utm_sorce": "a", "utm_mediun": "b"})

    message = str(info.value)
    assert "'utm_sorce' (did you mean 'utm_source'?)" in message
    assert "'utm_mediun' (did you mean 'utm_medium'?)" in message


# --- required means required: None or a missing key never builds a model ---

# Every model class, with the smallest valid arguments for its required fields: as
# Python values for the constructor, and as the wire JSON for `from_dict`.
REQUIRED: list[tuple[type, dict[str, Any], dict[str, Any]]] = [
    (
        EventRequestModel,
        {"time": WHEN, "uri": "/a", "verb": "GET", "headers": {}},
        {"time": "2024-05-01T12:00:00Z", "uri": "/a", "verb": "GET", "headers": {}},
    ),
    (
        EventResponseModel,
        {"time": WHEN, "status": 200, "headers": {}},
        {"time": "2024-05-01T12:00:00Z", "status": 200, "headers": {}},
    ),
    (EventModel, {"request": request()}, {"request": REQUEST_JSON}),
    (UserModel, {"user_id": "u"}, {"user_id": "u"}),
    (CompanyModel, {"company_id": "c"}, {"company_id": "c"}),
    (ActionRequestModel, {"uri": "/a"}, {"uri": "/a"}),
    (
        ActionModel,
        {"action_name": "Signed Up", "request": ActionRequestModel(uri="/a")},
        {"action_name": "Signed Up", "request": {"uri": "/a"}},
    ),
    (
        SubscriptionModel,
        {"subscription_id": "s", "company_id": "c"},
        {"subscription_id": "s", "company_id": "c"},
    ),
    (SubscriptionItemModel, {"plan_id": "p"}, {"plan_id": "p"}),
    (
        RegexCondition,
        {"path": "request.verb", "value": "GET"},
        {"path": "request.verb", "value": "GET"},
    ),
    (RegexSamplingRule, {"sample_rate": 10}, {"sample_rate": 10}),
    (EntityRuleValues, {"rules": "r1"}, {"rules": "r1"}),
    (RuleVariable, {"name": "0", "path": "user_id"}, {"name": "0", "path": "user_id"}),
]
REQUIRED_FIELDS = [
    pytest.param(cls, name, python, wire, id=f"{cls.__name__}.{name}")
    for cls, python, wire in REQUIRED
    for name in python
]


def required_fields(cls: type) -> set[str]:
    return {field.name for field in attrs.fields(cls) if field.default is attrs.NOTHING}


def test_the_required_table_covers_every_required_field_of_every_model() -> None:
    model_classes = [
        value
        for name in models.__all__
        if attrs.has(value := getattr(models, name))
        and isinstance(value, type)
        # The health probe's answer is read by the client (`Core.health`), never built.
        and value is not models.Health
    ]
    listed = {cls: set(python) for cls, python, _ in REQUIRED}

    assert {cls: required_fields(cls) for cls in model_classes if required_fields(cls)} == listed


@pytest.mark.parametrize(("cls", "name", "python", "wire"), REQUIRED_FIELDS)
def test_a_required_field_given_none_to_the_constructor_is_a_validation_error_naming_it(
    cls: type, name: str, python: dict[str, Any], wire: dict[str, Any]
) -> None:
    cls(**python)  # the table's arguments are valid

    with pytest.raises(ValidationError) as info:
        cls(**{**python, name: None})

    assert info.value.field == name
    assert "required" in info.value.reason


@pytest.mark.parametrize(("cls", "name", "python", "wire"), REQUIRED_FIELDS)
def test_a_required_key_given_null_to_from_dict_is_a_validation_error_naming_it(
    cls: type, name: str, python: dict[str, Any], wire: dict[str, Any]
) -> None:
    from_dict(cls, wire)

    with pytest.raises(ValidationError) as info:
        from_dict(cls, {**wire, name: None})

    assert info.value.field == name
    assert info.value.reason == "is required"


@pytest.mark.parametrize(("cls", "name", "python", "wire"), REQUIRED_FIELDS)
def test_a_required_key_missing_from_from_dict_is_a_validation_error_naming_it(
    cls: type, name: str, python: dict[str, Any], wire: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(cls, {key: value for key, value in wire.items() if key != name})

    assert info.value.field == name
    assert info.value.reason == "is required"


def test_a_required_field_missing_from_a_nested_dict_is_named_by_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(ActionModel, {"action_name": "Signed Up", "request": {"time": None}})

    assert info.value.field == "request.uri"


@pytest.mark.parametrize("cls", [EventModel, ActionModel])
def test_a_none_transaction_id_given_in_code_is_refused_not_replaced(cls: type) -> None:
    python = next(python for model, python, _ in REQUIRED if model is cls)

    with pytest.raises(ValidationError) as info:
        cls(**python, transaction_id=None)

    assert info.value.field == "transaction_id"


# --- spans, weights, content lengths, subscription items ---


def test_a_span_takes_span_ids_and_link_objects_as_links() -> None:
    links: list[Any] = ["53995c3f42cd8ad8", {"trace_id": "4bf9", "span_id": "00f0"}]

    span = SpanModel(id="00f067aa0ba902b7", links=links, status=2)

    assert span.links == links


def test_from_dict_reads_the_references_parent_span_id_as_parent_id() -> None:
    span = from_dict(SpanModel, {"id": "a1", "parent_span_id": "b2"})

    assert span == SpanModel(id="a1", parent_id="b2")


def test_from_dict_takes_parent_id_and_parent_span_id_when_they_agree() -> None:
    span = from_dict(SpanModel, {"parent_id": "b2", "parent_span_id": "b2"})

    assert span.parent_id == "b2"


def test_from_dict_refuses_parent_id_and_parent_span_id_that_disagree() -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(
            EventModel,
            {"request": REQUEST_JSON, "span": {"parent_id": "b2", "parent_span_id": "c3"}},
        )

    assert info.value.field == "span.parent_id"
    assert "parent_span_id" in info.value.reason


def test_a_misspelled_span_key_is_refused_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="did you mean 'parent_id'") as info:
        from_dict(SpanModel, {"parent": "b2"})

    assert info.value.field == "parent"


def test_a_weight_of_zero_means_not_sampled_and_is_valid() -> None:
    assert EventModel(request=request(), weight=0).weight == 0


def test_content_length_of_zero_or_more_is_kept() -> None:
    assert request(content_length=0).content_length == 0
    assert response(content_length=126).content_length == 126


def test_a_subscription_item_created_at_is_normalized_to_utc_milliseconds() -> None:
    item = SubscriptionItemModel(plan_id="p", created_at="2024-05-01T14:00:00.123456+02:00")

    assert item.created_at == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize("key", ["item_price_id", "status", "quantity"])
def test_subscription_item_keys_the_collector_does_not_document_are_refused(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(SubscriptionItemModel, {"plan_id": "p", key: "x"})

    assert info.value.field == key


# --- static types: mypy flags wrong types in user code ---

MYPY_SNIPPET = """\
from datetime import datetime, timezone

import httpx

from moesifapi import (
    ActionModel,
    AppConfig,
    CampaignModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    GovernanceRule,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    from_dict,
    to_json,
)

when = datetime(2024, 5, 1, tzinfo=timezone.utc)
request = EventRequestModel(time=when, uri="/a", verb="GET", headers={"A": ["1", "2"]})
EventRequestModel(time="2024-05-01T00:00:00Z", uri="/a", verb="GET", headers=httpx.Headers())
EventModel(request=request, direction="Outgoing", weight=2, metadata={"a": [1, {"b": None}]})
UserModel(user_id="u", campaign=CampaignModel(utm_source="news"))
wire: bytes = to_json([UserModel(user_id="u")])
EventModel(request=request, weight=0, span=SpanModel(parent_id="p", links=["s", {"a": 1}]))
path: str = from_dict(AppConfig, {}).regex_config[0].conditions[0].path
UserModel(user_id=123)  # WRONG
UserModel(user_id="u", metadata=["not", "a", "mapping"])  # WRONG
EventResponseModel(time=when, status="200", headers={})  # WRONG
EventModel(request=request, direction="Sideways")  # WRONG
EventModel(request=request, weight="1")  # WRONG
EventModel(request={"uri": "/a"})  # WRONG
EventRequestModel(time=1714521600, uri="/a", verb="GET", headers={})  # WRONG
EventRequestModel(time=when, uri="/a", verb="GET", headers={"A": 1})  # WRONG
ActionModel(action_name="Signed Up")  # WRONG
SubscriptionModel(subscription_id="s", company_id="c", items=[{"plan_id": "p"}])  # WRONG
CampaignModel(utm_sorce="news")  # WRONG
text: str = to_json(UserModel(user_id="u"))  # WRONG
status: str = from_dict(EventResponseModel, {}).status  # WRONG
rate: str = from_dict(AppConfig, {}).regex_config[0].sample_rate  # WRONG
value: int = from_dict(AppConfig, {}).regex_config[0].conditions[0].value  # WRONG
GovernanceRule(type="plan")  # WRONG
SubscriptionItemModel(price_id="p")  # WRONG
SubscriptionItemModel(plan_id="p", quantity=1)  # WRONG
SpanModel(links=[1])  # WRONG
"""


@pytest.mark.slow
def test_mypy_flags_wrong_types_in_user_code(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(MYPY_SNIPPET, encoding="utf-8")
    # mypy's cache lives in pytest's cache dir so repeated runs are fast.
    pytest_cache = getattr(pytestconfig, "cache", None)
    cache = pytest_cache.mkdir("mypy") if pytest_cache else tmp_path / "mypy-cache"

    stdout, stderr, _ = mypy_api.run(
        [
            str(snippet),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(cache),
        ]
    )

    assert not stderr, stderr
    flagged = {int(match.group(1)) for match in re.finditer(r"user_code\.py:(\d+): error:", stdout)}
    wrong = {
        number
        for number, line in enumerate(MYPY_SNIPPET.splitlines(), start=1)
        if line.endswith("# WRONG")
    }
    assert len(wrong) == 19
    # Every wrong line is flagged, and the correct lines above them are not.
    assert flagged == wrong, stdout
