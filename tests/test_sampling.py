"""Sampling: which rate the app config gives an event, and the weight a kept event carries.

Inputs are built from the wire format, as `GET /config` returns it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moesifapi._sampling as sampling
from moesifapi import AppConfig, EventModel, ValidationError, from_dict
from moesifapi._sampling import event_fields, route_of, sample_rate_for, weight_for

T = "2024-05-01T12:00:00Z"
URI = "https://api.example.com/v1/items?page=2"


@pytest.fixture(autouse=True)
def _fresh_regex_cache() -> Iterator[None]:
    # Compiled patterns (and the once-only warning for bad ones) are cached per process.
    sampling._compiled.cache_clear()
    yield
    sampling._compiled.cache_clear()


def event(
    *,
    uri: str = URI,
    verb: str = "GET",
    ip: str | None = None,
    status: int | None = None,
    user_id: str | None = None,
    company_id: str | None = None,
) -> EventModel:
    request: dict[str, Any] = {"time": T, "uri": uri, "verb": verb, "headers": {}}
    if ip is not None:
        request["ip_address"] = ip
    data: dict[str, Any] = {"request": request}
    if status is not None:
        data["response"] = {"time": T, "status": status, "headers": {}}
    if user_id is not None:
        data["user_id"] = user_id
    if company_id is not None:
        data["company_id"] = company_id
    return from_dict(EventModel, data)


def config(**wire: Any) -> AppConfig:
    return from_dict(AppConfig, wire)


def rule(rate: int, *conditions: tuple[str, str]) -> dict[str, Any]:
    """A `regex_config` entry: kept at `rate` % when every (path, pattern) matches."""
    return {
        "conditions": [{"path": path, "value": value} for path, value in conditions],
        "sample_rate": rate,
    }


def rate(wire: dict[str, Any], **event_kwargs: Any) -> int:
    return config(**wire).sample_rate_for(event(**event_kwargs))


# --- precedence ---

FULL = {
    "sample_rate": 50,
    "user_sample_rate": {"alice": 20},
    "company_sample_rate": {"acme": 30},
    "regex_config": [rule(10, ("request.verb", "^GET$"))],
}


@pytest.mark.parametrize(
    ("wire", "event_kwargs", "expected"),
    [
        pytest.param({}, {}, 100, id="nothing-set-defaults-to-100"),
        pytest.param({"sample_rate": 50}, {}, 50, id="app-rate"),
        pytest.param({"sample_rate": 0}, {}, 0, id="app-rate-zero-is-not-unset"),
        pytest.param(FULL, {"user_id": "alice", "company_id": "acme"}, 10, id="regex-beats-all"),
        pytest.param(
            FULL, {"verb": "POST", "user_id": "alice", "company_id": "acme"}, 20, id="user-next"
        ),
        pytest.param(FULL, {"verb": "POST", "company_id": "acme"}, 30, id="company-next"),
        pytest.param(
            FULL, {"verb": "POST", "user_id": "bob", "company_id": "acme"}, 30, id="unknown-user"
        ),
        pytest.param(
            FULL, {"verb": "POST", "user_id": "bob", "company_id": "other"}, 50, id="app-last"
        ),
        pytest.param(FULL, {"verb": "POST"}, 50, id="anonymous"),
        pytest.param(
            {"user_sample_rate": {"alice": 0}}, {"user_id": "alice"}, 0, id="user-rate-zero-counts"
        ),
        pytest.param(
            {"company_sample_rate": {"acme": 0}, "sample_rate": 70},
            {"company_id": "acme"},
            0,
            id="company-rate-zero-counts",
        ),
        pytest.param(
            {"user_sample_rate": {"alice": 20}}, {"user_id": "bob"}, 100, id="other-user-default"
        ),
    ],
)
def test_precedence(wire: dict[str, Any], event_kwargs: dict[str, Any], expected: int) -> None:
    assert rate(wire, **event_kwargs) == expected


@pytest.mark.parametrize(
    ("event_kwargs", "expected"),
    [
        pytest.param({"user_id": ""}, 60, id="empty-user-id"),
        pytest.param({"company_id": ""}, 60, id="empty-company-id"),
        pytest.param({"user_id": "", "company_id": ""}, 60, id="both-empty"),
    ],
)
def test_empty_ids_are_not_looked_up(event_kwargs: dict[str, Any], expected: int) -> None:
    wire = {"sample_rate": 60, "user_sample_rate": {"": 1}, "company_sample_rate": {"": 2}}
    assert rate(wire, **event_kwargs) == expected


def test_public_entry_point_is_the_pure_function() -> None:
    cfg = config(**FULL)
    ev = event(verb="POST", user_id="alice")
    assert cfg.sample_rate_for(ev) == sample_rate_for(cfg, ev) == 20


# --- regex rules: conditions and order ---


@pytest.mark.parametrize(
    ("rules", "event_kwargs", "expected"),
    [
        pytest.param(
            [rule(5, ("request.verb", "GET"), ("request.route", "^/v1/items$"))],
            {},
            5,
            id="and-both-match",
        ),
        pytest.param(
            [rule(5, ("request.verb", "GET"), ("request.route", "^/v2"))],
            {},
            100,
            id="and-one-fails",
        ),
        pytest.param(
            [rule(5, ("request.verb", "POST")), rule(6, ("request.verb", "GET"))],
            {},
            6,
            id="second-rule-when-first-fails",
        ),
        pytest.param(
            [rule(5, ("request.verb", "GET")), rule(6, ("request.route", "items"))],
            {},
            5,
            id="first-matching-wins",
        ),
        pytest.param(
            [rule(6, ("request.route", "items")), rule(5, ("request.verb", "GET"))],
            {},
            6,
            id="order-is-the-list-order",
        ),
        pytest.param([rule(5)], {}, 100, id="no-conditions-matches-nothing"),
        pytest.param([rule(5), rule(7, ("request.verb", "GET"))], {}, 7, id="empty-rule-skipped"),
        pytest.param(
            [rule(5, ("request.verb", "POST"), ("request.verb", "GET"))],
            {},
            5,
            id="same-path-later-condition-counts",
        ),
        pytest.param(
            [rule(5, ("request.verb", "GET"), ("request.verb", "POST"))],
            {},
            100,
            id="same-path-earlier-condition-ignored",
        ),
        pytest.param(
            [rule(5, ("request.ip_address", r"^10\.0\."))], {"ip": "10.0.0.7"}, 5, id="ip-matches"
        ),
        pytest.param(
            [rule(5, ("request.ip_address", r"^10\.0\."))],
            {"ip": "192.168.0.1"},
            100,
            id="ip-differs",
        ),
        pytest.param([rule(5, ("response.status", "^5"))], {"status": 503}, 5, id="status-5xx"),
        pytest.param([rule(5, ("response.status", "^5"))], {"status": 200}, 100, id="status-2xx"),
        pytest.param(
            [rule(5, ("response.status", "^404$"))], {"status": 404}, 5, id="status-as-text"
        ),
        pytest.param([rule(5, ("request.verb", "^get$"))], {}, 100, id="case-sensitive"),
        pytest.param([rule(5, ("request.verb", "E"))], {}, 5, id="search-not-anchored"),
        pytest.param([rule(5, ("request.unknown", "."))], {}, 100, id="unknown-path"),
        pytest.param([rule(5, ("response.status", "."))], {}, 100, id="no-response"),
        pytest.param([rule(5, ("request.ip_address", "."))], {}, 100, id="no-ip"),
    ],
)
def test_regex_rules(
    rules: list[dict[str, Any]], event_kwargs: dict[str, Any], expected: int
) -> None:
    assert rate({"regex_config": rules}, **event_kwargs) == expected


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(("request.ip_address", ".*"), id="ip"),
        pytest.param(("response.status", ".*"), id="response"),
    ],
)
def test_condition_on_missing_part_falls_to_user_rate(missing: tuple[str, str]) -> None:
    wire = {
        "sample_rate": 80,
        "user_sample_rate": {"alice": 20},
        "regex_config": [rule(5, missing)],
    }
    assert rate(wire, user_id="alice") == 20
    assert rate(wire) == 80


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        pytest.param("request.verb", "^", id="caret"),
        pytest.param("request.verb", "$", id="dollar"),
        pytest.param("request.verb", "", id="empty-pattern"),
        pytest.param("request.route", "x*", id="star-of-absent-char"),
        pytest.param("request.verb", "(?=G)", id="lookahead"),
    ],
)
def test_empty_match_is_no_match(path: str, pattern: str) -> None:
    wire = {"user_sample_rate": {"alice": 20}, "regex_config": [rule(5, (path, pattern))]}
    assert rate(wire, user_id="alice", uri="https://h/abc") == 20


# --- routes ---


@pytest.mark.parametrize(
    ("uri", "route"),
    [
        ("https://api.example.com/v1/items?page=2", "/v1/items"),
        ("https://api.example.com/v1/items", "/v1/items"),
        ("http://api.example.com/a/b/c", "/a/b/c"),
        ("https://api.example.com:8443/x", "/x"),
        ("https://api.example.com/x?", "/x"),
        ("https://api.example.com/a/b?c=/d", "/a/b"),
        ("https://api.example.com", "/"),
        ("https://api.example.com/", "/"),
        ("https://api.example.com/?q=1", "/"),
        ("https://api.example.com?q=1", "/"),
        ("api.example.com/v1/items", "/"),
        ("/v1/items", "/"),
        ("ftp://host/file", "/"),
    ],
)
def test_route_of(uri: str, route: str) -> None:
    assert route_of(uri) == route


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("https://h/v1/items?page=2", 5, id="query-stripped"),
        pytest.param("https://h/v1/items/", 100, id="trailing-slash"),
        pytest.param("https://h/v1/items/3", 100, id="longer-path"),
        pytest.param("v1/items", 100, id="no-scheme-is-root"),
    ],
)
def test_route_condition(uri: str, expected: int) -> None:
    wire = {"regex_config": [rule(5, ("request.route", "^/v1/items$"))]}
    assert rate(wire, uri=uri) == expected


def test_root_route_condition_matches_uri_without_path() -> None:
    wire = {"regex_config": [rule(5, ("request.route", "^/$"))]}
    assert rate(wire, uri="https://api.example.com") == 5
    assert rate(wire, uri="no-scheme/at/all") == 5
    assert rate(wire, uri="https://api.example.com/x") == 100


def test_event_fields() -> None:
    full = event(uri="https://h/a?b", verb="PUT", ip="1.2.3.4", status=201)
    assert event_fields(full) == {
        "request.verb": "PUT",
        "request.route": "/a",
        "request.ip_address": "1.2.3.4",
        "response.status": "201",
    }
    assert event_fields(event(uri="https://h/a", verb="GET")) == {
        "request.verb": "GET",
        "request.route": "/a",
    }


# --- what the server sent is never an error ---


def bad_regex_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "moesifapi" and r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("wire", "event_kwargs", "expected"),
    [
        pytest.param(
            {"regex_config": [rule(5, ("request.verb", "(")), rule(7, ("request.verb", "GET"))]},
            {},
            7,
            id="next-rule",
        ),
        pytest.param(
            {"regex_config": [rule(5, ("request.verb", "("))], "user_sample_rate": {"a": 20}},
            {"user_id": "a"},
            20,
            id="user-rate",
        ),
        pytest.param(
            {"regex_config": [rule(5, ("request.verb", "GET"), ("request.route", "["))]},
            {},
            100,
            id="and-with-invalid",
        ),
        pytest.param(
            {"regex_config": [rule(5, ("request.verb", "*"))], "sample_rate": 40},
            {},
            40,
            id="app-rate",
        ),
    ],
)
def test_invalid_regex_skips_the_rule(
    wire: dict[str, Any],
    event_kwargs: dict[str, Any],
    expected: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        assert rate(wire, **event_kwargs) == expected
    assert len(bad_regex_records(caplog)) == 1


def test_invalid_regex_is_logged_once_over_many_calls(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(
        regex_config=[rule(5, ("request.verb", "(")), rule(7, ("request.route", "^/v1"))],
    )
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        for verb in ["GET", "POST", "PUT"] * 20:
            assert cfg.sample_rate_for(event(verb=verb)) == 7
    records = bad_regex_records(caplog)
    assert len(records) == 1
    assert "'('" in records[0].getMessage()


def test_two_invalid_regexes_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(regex_config=[rule(5, ("request.verb", "(")), rule(6, ("request.verb", "["))])
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        for _ in range(10):
            assert cfg.sample_rate_for(event()) == 100
    assert len(bad_regex_records(caplog)) == 2


@pytest.mark.parametrize(
    ("wire", "event_kwargs", "expected"),
    [
        pytest.param({"sample_rate": 150}, {}, 100, id="app-high"),
        pytest.param({"sample_rate": -5}, {}, 0, id="app-low"),
        pytest.param({"user_sample_rate": {"a": 1000}}, {"user_id": "a"}, 100, id="user-high"),
        pytest.param({"user_sample_rate": {"a": -1}}, {"user_id": "a"}, 0, id="user-low"),
        pytest.param({"company_sample_rate": {"c": 101}}, {"company_id": "c"}, 100, id="co-high"),
        pytest.param({"company_sample_rate": {"c": -100}}, {"company_id": "c"}, 0, id="co-low"),
        pytest.param({"regex_config": [rule(250, ("request.verb", "GET"))]}, {}, 100, id="rx-hi"),
        pytest.param({"regex_config": [rule(-3, ("request.verb", "GET"))]}, {}, 0, id="rx-low"),
        pytest.param({"sample_rate": 100}, {}, 100, id="bound-100"),
        pytest.param({"sample_rate": 0}, {}, 0, id="bound-0"),
    ],
)
def test_out_of_range_rates_clamp(
    wire: dict[str, Any], event_kwargs: dict[str, Any], expected: int
) -> None:
    assert rate(wire, **event_kwargs) == expected


@pytest.mark.parametrize("pattern", ["[[]", "[a--b]", "[a&&b]"])
def test_pattern_that_warns_never_raises(pattern: str) -> None:
    wire = {"regex_config": [rule(5, ("request.verb", pattern)), rule(7, ("request.verb", "GET"))]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rate(wire) == 7


# --- weight ---


@pytest.mark.parametrize(
    ("sample_rate", "weight"),
    [
        (0, 1),
        (1, 100),
        (3, 33),
        (7, 14),
        (25, 4),
        (30, 3),
        (33, 3),
        (34, 2),
        (50, 2),
        (51, 1),
        (99, 1),
        (100, 1),
        (-5, 1),
        (150, 1),
    ],
)
def test_weight_for(sample_rate: int, weight: int) -> None:
    assert weight_for(sample_rate) == weight


@pytest.mark.parametrize("bad", ["25", 25.0, None, True, False, [25]])
def test_weight_for_rejects_non_int(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        weight_for(bad)
    assert caught.value.field == "rate"


# --- property ---

PATHS = ["request.verb", "request.route", "request.ip_address", "response.status", "other"]
patterns = st.one_of(
    st.sampled_from(["^GET$", "^5", "(", "[", "^", "x*", ".", "items", "^/v1", "*", "a{2,1}"]),
    st.text(alphabet="ab^$.*+?()[]{}|\\/05", max_size=6),
)


conditions = st.fixed_dictionaries({"path": st.sampled_from(PATHS), "value": patterns})
rates = st.integers(min_value=-1000, max_value=1000)
ids = st.sampled_from(["", "alice", "bob", "acme"])
configs = st.fixed_dictionaries(
    {},
    optional={
        "sample_rate": rates,
        "user_sample_rate": st.dictionaries(ids, rates, max_size=3),
        "company_sample_rate": st.dictionaries(ids, rates, max_size=3),
        "regex_config": st.lists(
            st.fixed_dictionaries(
                {"conditions": st.lists(conditions, max_size=3), "sample_rate": rates}
            ),
            max_size=4,
        ),
    },
)
events = st.builds(
    event,
    uri=st.sampled_from([URI, "https://h", "https://h/", "nohost", "http://h/v1?x", "/v1"]),
    verb=st.sampled_from(["GET", "POST", "x"]),
    ip=st.none() | st.sampled_from(["10.0.0.1", "::1"]),
    status=st.none() | st.sampled_from([200, 404, 503]),
    user_id=st.none() | ids,
    company_id=st.none() | ids,
)


@settings(max_examples=100, deadline=None)
@given(wire=configs, ev=events)
def test_sample_rate_is_always_a_percentage(wire: dict[str, Any], ev: EventModel) -> None:
    result = config(**wire).sample_rate_for(ev)
    assert type(result) is int
    assert 0 <= result <= 100
    assert 1 <= weight_for(result) <= 100
