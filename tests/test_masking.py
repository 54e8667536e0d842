"""`mask_headers` and `mask_body_fields`: names match in any letter case, the input is
never changed, and body fields are found at any depth."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import moesifapi
from moesifapi import ValidationError, mask_body_fields, mask_headers

# --- headers ---


@pytest.mark.parametrize(
    "spelling",
    ["authorization", "Authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"],
    ids=["lower-case", "title-case", "upper-case", "mixed-case"],
)
@pytest.mark.parametrize(
    "asked",
    ["authorization", "Authorization", "AuThOrIzAtIoN"],
    ids=["asked-lower", "asked-title", "asked-mixed"],
)
def test_a_header_is_masked_whatever_the_case_of_either_name(spelling: str, asked: str) -> None:
    headers = {spelling: "Bearer s3cret", "Accept": "application/json"}
    assert mask_headers(headers, [asked]) == {spelling: "***", "Accept": "application/json"}


def test_asgi_style_lower_case_headers_are_masked_by_their_usual_names() -> None:
    # What uvicorn hands over: every name in lower case.
    headers = {"authorization": "Bearer s3cret", "cookie": "sid=1", "x-api-key": "k"}
    masked = mask_headers(headers, ["Authorization", "Cookie", "X-Api-Key"], mask="<masked>")
    assert masked == {"authorization": "<masked>", "cookie": "<masked>", "x-api-key": "<masked>"}


def test_the_input_headers_are_not_changed_and_a_new_dict_comes_back() -> None:
    headers = {"Authorization": "Bearer s3cret"}
    masked = mask_headers(headers, ["authorization"])
    assert headers == {"Authorization": "Bearer s3cret"}
    assert masked is not headers


def test_absent_headers_stay_absent_and_order_and_spelling_are_kept() -> None:
    headers = {"X-B": "2", "set-cookie": "a=1", "X-A": "1"}
    masked = mask_headers(headers, ["Authorization", "Set-Cookie"])
    assert list(masked.items()) == [("X-B", "2"), ("set-cookie", "***"), ("X-A", "1")]


def test_any_mapping_of_headers_is_accepted() -> None:
    import httpx

    masked = mask_headers(httpx.Headers({"Authorization": "Bearer s3cret"}), ["AUTHORIZATION"])
    assert masked == {"authorization": "***"}


def test_a_lone_name_is_refused_rather_than_taken_letter_by_letter() -> None:
    with pytest.raises(ValidationError) as caught:
        mask_headers({"c": "1", "Cookie": "sid=1"}, "Cookie")
    assert caught.value.field == "names"


@pytest.mark.parametrize("bad", [None, 3, [b"Cookie"], ["Cookie", None]])
def test_names_must_be_strings(bad: Any) -> None:
    with pytest.raises(ValidationError):
        mask_headers({"Cookie": "sid=1"}, bad)


def test_headers_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError) as caught:
        mask_headers([("Cookie", "sid=1")], ["Cookie"])  # type: ignore[arg-type]
    assert caught.value.field == "headers"


def test_masked_headers_go_into_a_model() -> None:
    request = moesifapi.EventRequestModel(
        time="2024-05-01T12:00:00Z",
        uri="https://api.example.com/",
        verb="GET",
        headers={"authorization": "Bearer s3cret"},
    )
    request.headers = mask_headers(request.headers, ["Authorization"])
    assert moesifapi.to_dict(request)["headers"] == {"authorization": "***"}


# --- body fields ---


@pytest.mark.parametrize("key", ["password", "Password", "PASSWORD", "pAsSwOrD"])
def test_a_body_field_is_masked_whatever_its_case(key: str) -> None:
    assert mask_body_fields({key: "pw", "user": "ann"}, ["Password"]) == {key: "***", "user": "ann"}


def test_fields_are_masked_at_any_depth_in_objects_and_lists() -> None:
    body = {
        "user": {"name": "ann", "Password": "pw", "tokens": [{"access_token": "a"}, {"x": 1}]},
        "items": [[{"password": "deep"}], "password", 3],
    }
    masked = mask_body_fields(body, ["password", "ACCESS_TOKEN"])
    assert masked == {
        "user": {"name": "ann", "Password": "***", "tokens": [{"access_token": "***"}, {"x": 1}]},
        "items": [[{"password": "***"}], "password", 3],  # a string value is not a key
    }


def test_a_matched_field_s_whole_value_is_masked_even_an_object() -> None:
    body = {"credentials": {"user": "ann", "password": "pw"}, "ok": True}
    assert mask_body_fields(body, ["credentials"], mask=None) == {"credentials": None, "ok": True}


def test_a_list_body_is_masked_item_by_item() -> None:
    body = [{"token": "a"}, {"Token": "b"}, {"other": "c"}]
    assert mask_body_fields(body, ["token"]) == [{"token": "***"}, {"Token": "***"}, {"other": "c"}]


def test_the_input_body_is_not_changed() -> None:
    body = {"a": {"password": "pw"}, "b": [{"password": "pw"}]}
    before = copy.deepcopy(body)
    masked = mask_body_fields(body, ["password"])
    assert body == before
    assert masked is not body
    assert masked["a"] is not body["a"]  # type: ignore[index]


@pytest.mark.parametrize(
    "body",
    ["password=pw", b'{"password": "pw"}', 42, None, True, 1.5],
    ids=["text", "bytes", "int", "none", "bool", "float"],
)
def test_a_body_that_is_not_an_object_or_a_list_is_returned_as_it_is(body: object) -> None:
    assert mask_body_fields(body, ["password"]) is body


def test_a_tuple_stays_a_tuple() -> None:
    assert mask_body_fields(({"password": "pw"},), ["password"]) == ({"password": "***"},)


def test_non_string_keys_are_left_alone() -> None:
    assert mask_body_fields({1: "a", "k": "b"}, ["1", "K"]) == {1: "a", "k": "***"}


def test_a_body_too_deep_to_walk_is_a_validation_error_not_a_recursion_error() -> None:
    body: Any = {}
    for _ in range(100_000):
        body = {"next": body}
    with pytest.raises(ValidationError) as caught:
        mask_body_fields(body, ["password"])
    assert caught.value.field == "body"


def test_body_field_names_are_checked_like_header_names() -> None:
    with pytest.raises(ValidationError):
        mask_body_fields({"password": "pw"}, "password")


def test_no_names_mask_nothing() -> None:
    body = {"password": "pw"}
    assert mask_body_fields(body, []) is body
    assert mask_headers({"Cookie": "1"}, []) == {"Cookie": "1"}


def test_the_masking_helpers_are_exported() -> None:
    assert {"mask_headers", "mask_body_fields"} <= set(moesifapi.__all__)
