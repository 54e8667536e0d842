"""The sandbox answers like the Collector API: auth, routing, bodies, required fields.

Every test runs three ways (sync transport, async transport, urllib over a socket).
"""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest

from moesifapi.testing import Collector

if TYPE_CHECKING:
    from conftest import Sender

WRITE_PATHS = ["events", "actions", "users", "companies", "subscriptions"]


def encode(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


@pytest.mark.parametrize("kind", WRITE_PATHS)
def test_each_write_endpoint_accepts_a_minimal_body_with_201_and_empty_object(
    send: Sender, bodies: dict[str, dict[str, Any]], collector: Collector, kind: str
) -> None:
    single = send("POST", f"/{kind}", encode(bodies[kind]))
    batch = send("POST", f"/{kind}/batch", encode([bodies[kind], bodies[kind]]))

    assert (single.status, single.json()) == (201, {})
    assert (batch.status, batch.json()) == (201, {})
    assert single.headers["x-moesif-config-etag"] == collector.config_etag
    assert single.headers["content-type"].startswith("application/json")


def test_accepted_items_are_stored(send: Sender, collector: Collector, bodies: Any) -> None:
    for kind in WRITE_PATHS:
        send("POST", f"/{kind}", encode(bodies[kind]))

    assert collector.events == [bodies["events"]]
    assert collector.actions == [bodies["actions"]]
    assert collector.users == {"user-1": bodies["users"]}
    assert collector.companies == {"company-1": bodies["companies"]}
    assert collector.subscriptions == {"sub-1": bodies["subscriptions"]}


def test_missing_application_id_is_401(send: Sender, collector: Collector, bodies: Any) -> None:
    reply = send("POST", "/events", encode(bodies["events"]), app_id=None)

    assert reply.status == 401
    assert "X-Moesif-Application-Id" in reply.json()["message"]


def test_wrong_application_id_is_401(send: Sender, collector: Collector, bodies: Any) -> None:
    reply = send("POST", "/users", encode(bodies["users"]), app_id="someone-else")

    assert reply.status == 401
    assert collector.users == {}


def test_reads_need_the_application_id_too(send: Sender) -> None:
    assert send("GET", "/config", app_id=None).status == 401


def test_malformed_json_is_400_with_a_message_naming_the_problem(send: Sender) -> None:
    reply = send("POST", "/events", b'{"request": {"time": ')

    assert reply.status == 400
    assert reply.json()["message"].startswith("malformed JSON: Expecting value")


def test_nan_is_not_json(send: Sender) -> None:
    reply = send("POST", "/users", b'{"user_id": "u1", "metadata": {"score": NaN}}')

    assert reply.status == 400
    assert "NaN" in reply.json()["message"]


def test_empty_body_is_400(send: Sender) -> None:
    reply = send("POST", "/users", b"")

    assert reply.status == 400
    assert "empty" in reply.json()["message"]


def _without(body: dict[str, Any], dotted: str) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    target = body
    for name in parents:
        target = target[name]
    del target[leaf]
    return body


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("events", "request"),
        ("events", "request.time"),
        ("events", "request.uri"),
        ("events", "request.verb"),
        ("events", "request.headers"),
        ("actions", "action_name"),
        ("actions", "request.uri"),
        ("users", "user_id"),
        ("companies", "company_id"),
        ("subscriptions", "subscription_id"),
        ("subscriptions", "company_id"),
    ],
)
def test_missing_required_field_is_400_naming_the_field(
    send: Sender, collector: Collector, bodies: Any, kind: str, missing: str
) -> None:
    reply = send("POST", f"/{kind}", encode(_without(bodies[kind], missing)))

    assert reply.status == 400
    assert reply.json()["message"] == f"{missing} is required"
    assert collector.requests[-1].status == 400


@pytest.mark.parametrize("missing", ["time", "status", "headers"])
def test_a_response_when_present_needs_time_status_and_headers(
    send: Sender, bodies: Any, missing: str
) -> None:
    event = bodies["events"]
    event["response"] = {"time": "2024-05-01T12:00:00.1Z", "status": 200, "headers": {}}
    del event["response"][missing]

    reply = send("POST", "/events", encode(event))

    assert (reply.status, reply.json()["message"]) == (400, f"response.{missing} is required")


def test_response_status_must_be_an_integer(send: Sender, bodies: Any) -> None:
    event = bodies["events"]
    event["response"] = {"time": "2024-05-01T12:00:00Z", "status": "200", "headers": {}}

    reply = send("POST", "/events", encode(event))

    assert reply.status == 400
    assert reply.json()["message"] == "response.status must be an integer, got string"


def test_batch_problems_name_the_item_index(send: Sender, bodies: Any) -> None:
    good = bodies["events"]
    bad = json.loads(json.dumps(good))
    del bad["request"]["time"]

    reply = send("POST", "/events/batch", encode([good, good, good, bad]))

    assert reply.status == 400
    assert reply.json()["message"] == "[3].request.time is required"
    assert reply.json()["errors"] == ["[3].request.time is required"]


def test_a_rejected_batch_stores_none_of_its_items(
    send: Sender, collector: Collector, bodies: Any
) -> None:
    reply = send("POST", "/users/batch", encode([bodies["users"], {"metadata": {}}]))

    assert reply.status == 400
    assert reply.json()["message"] == "[1].user_id is required"
    assert collector.users == {}


def test_a_batch_must_be_an_array(send: Sender, bodies: Any) -> None:
    reply = send("POST", "/events/batch", encode(bodies["events"]))

    assert (reply.status, reply.json()["message"]) == (
        400,
        "a batch must be a JSON array, got object",
    )


def test_a_single_body_must_be_an_object(send: Sender, bodies: Any) -> None:
    reply = send("POST", "/users", encode([bodies["users"]]))

    assert (reply.status, reply.json()["message"]) == (400, "expected a JSON object, got array")


def test_an_unparseable_timestamp_is_400_naming_the_field(send: Sender, bodies: Any) -> None:
    user = {"user_id": "u1", "modified_time": "last tuesday"}

    reply = send("POST", "/users", encode(user))

    assert reply.status == 400
    assert reply.json()["message"] == "modified_time is not an ISO 8601 timestamp: 'last tuesday'"


def test_gzip_bodies_are_accepted(send: Sender, collector: Collector, bodies: Any) -> None:
    reply = send(
        "POST",
        "/events/batch",
        gzip.compress(encode([bodies["events"]] * 3)),
        {"Content-Encoding": "gzip"},
    )

    assert reply.status == 201
    assert collector.events == [bodies["events"]] * 3


def test_bad_gzip_is_400(send: Sender, collector: Collector, bodies: Any) -> None:
    reply = send("POST", "/events", encode(bodies["events"]), {"Content-Encoding": "gzip"})

    assert reply.status == 400
    assert "not valid gzip" in reply.json()["message"]
    assert collector.events == []


def test_truncated_gzip_is_400(send: Sender, bodies: Any) -> None:
    compressed = gzip.compress(encode(bodies["events"]))

    reply = send("POST", "/events", compressed[:-12], {"Content-Encoding": "gzip"})

    assert reply.status == 400
    assert "truncated" in reply.json()["message"]


def test_unknown_content_encoding_is_415(send: Sender, bodies: Any) -> None:
    reply = send("POST", "/users", encode(bodies["users"]), {"Content-Encoding": "br"})

    assert reply.status == 415


def test_body_over_the_limit_is_413(connect: Any, bodies: Any) -> None:
    small = Collector(max_body_bytes=1000)
    send = connect(small)
    events = [bodies["events"]] * 20

    reply = send("POST", "/events/batch", encode(events))

    assert reply.status == 413
    assert "limit is 1000" in reply.json()["message"]
    assert small.events == []


def test_the_limit_counts_the_decompressed_size(connect: Any) -> None:
    small = Collector(max_body_bytes=1000)
    send = connect(small)
    padded = {"user_id": "u1", "metadata": {"padding": "x" * 5000}}
    compressed = gzip.compress(encode(padded))
    assert len(compressed) < 1000

    reply = send("POST", "/users", compressed, {"Content-Encoding": "gzip"})

    assert reply.status == 413
    assert "decompressed" in reply.json()["message"]


def test_unknown_path_is_404_json(send: Sender) -> None:
    reply = send("POST", "/nothing-here", b"{}")

    assert reply.status == 404
    assert reply.json() == {"message": "no such endpoint: /v1/nothing-here"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/events", "POST"), ("PUT", "/users", "POST"), ("POST", "/config", "GET")],
)
def test_wrong_method_is_405(send: Sender, method: str, path: str, allowed: str) -> None:
    reply = send(method, path, b"{}")

    assert reply.status == 405
    assert reply.headers["allow"] == allowed


def test_leniency_nulls_naive_times_and_unknown_keys_are_accepted(
    send: Sender, collector: Collector
) -> None:
    # Shaped like the official Python SDK's output: naive isoformat() times with six
    # fraction digits, nulls for unset fields, and keys this sandbox does not know.
    event = {
        "request": {
            "time": "2024-05-01T12:00:00.123456",
            "uri": "https://api.example.com/items",
            "verb": "POST",
            "headers": {"Content-Length": 126, "Host": "api.example.com"},
            "api_version": None,
            "ip_address": None,
            "body": {"items": [1, 2]},
            "transfer_encoding": "",
        },
        "response": {
            "time": "2024-05-01T12:00:01",
            "status": 500,
            "headers": {},
            "body": None,
        },
        "user_id": None,
        "session_token": "token",
        "tags": None,
        "some_future_field": {"x": 1},
    }

    reply = send("POST", "/events", encode(event))

    assert reply.status == 201
    assert collector.events == [event]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.123Z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2024-05-01T12:00:00+0000",
        "2024-05-01T12:00",
        "2024-05-01 12:00:00",
        "2024-05-01",
    ],
)
def test_iso_8601_variants_are_accepted(collector: Collector, timestamp: str) -> None:
    body = encode({"user_id": "u1", "modified_time": timestamp})

    outcome = collector.handle(
        "POST", "/v1/users", {"X-Moesif-Application-Id": "sandbox-app-id"}, body
    )

    assert outcome.status == 201


@pytest.mark.parametrize(
    "timestamp",
    ["2024-13-01T00:00:00Z", "2024-02-30", "01/05/2024", "2024-05-01T25:00", "1714564800"],
)
def test_impossible_or_non_iso_timestamps_are_rejected(
    collector: Collector, timestamp: str
) -> None:
    body = encode({"subscription_id": "s", "company_id": "c", "current_period_end": timestamp})

    outcome = collector.handle(
        "POST", "/v1/subscriptions", {"X-Moesif-Application-Id": "sandbox-app-id"}, body
    )

    assert outcome.status == 400
    assert outcome.json()["message"].startswith("current_period_end is not an ISO 8601")


def test_unjoined_repeated_headers_are_rejected(collector: Collector, bodies: Any) -> None:
    event = bodies["events"]
    event["request"]["headers"] = {"Set-Cookie": ["a=1", "b=2"]}

    outcome = collector.handle(
        "POST", "/v1/events", {"X-Moesif-Application-Id": "sandbox-app-id"}, encode(event)
    )

    assert outcome.status == 400
    assert outcome.json()["message"] == "request.headers['Set-Cookie'] must be a string, got array"


def test_subscription_items_are_checked_by_index(collector: Collector) -> None:
    body = {
        "subscription_id": "s",
        "company_id": "c",
        "items": [{"plan_id": "pro"}, {"plan_id": "team", "created_at": "soon"}],
    }

    outcome = collector.handle(
        "POST", "/v1/subscriptions", {"X-Moesif-Application-Id": "sandbox-app-id"}, encode(body)
    )

    assert outcome.json()["message"] == "items[1].created_at is not an ISO 8601 timestamp: 'soon'"


def post_to(collector: Collector, path: str, body: object) -> Any:
    headers = {"X-Moesif-Application-Id": "sandbox-app-id"}
    return collector.handle("POST", f"/v1/{path}", headers, encode(body))


def test_a_subscription_item_needs_a_plan_id(collector: Collector) -> None:
    body = {"subscription_id": "s", "company_id": "c", "items": [{"price_id": "p"}]}

    outcome = post_to(collector, "subscriptions", body)

    assert outcome.status == 400
    assert outcome.json()["message"] == "items[0].plan_id is required"


def test_a_span_with_links_and_either_parent_spelling_is_accepted(
    collector: Collector, bodies: Any
) -> None:
    event = bodies["events"]
    event["span"] = {"id": "a1", "parent_span_id": "b2", "links": ["c3", {"span_id": "d4"}]}
    event["request"]["content_length"] = 0
    event["weight"] = 0

    outcome = post_to(collector, "events", event)

    assert outcome.status == 201
    assert collector.events[0]["span"] == event["span"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"span": {"links": "c3"}}, "span.links must be an array, got string"),
        ({"span": {"status": "OK"}}, "span.status must be an integer, got string"),
        ({"weight": -1}, "weight must be 0 or more, got -1"),
    ],
)
def test_span_and_weight_values_of_the_wrong_kind_are_rejected(
    collector: Collector, bodies: Any, change: dict[str, Any], message: str
) -> None:
    outcome = post_to(collector, "events", {**bodies["events"], **change})

    assert outcome.status == 400
    assert outcome.json()["message"] == message


def test_a_negative_content_length_is_rejected(collector: Collector, bodies: Any) -> None:
    event = bodies["events"]
    event["request"]["content_length"] = -5

    outcome = post_to(collector, "events", event)

    assert outcome.json()["message"] == "request.content_length must be 0 or more, got -5"


def test_absolute_form_targets_and_trailing_slashes_route_normally(collector: Collector) -> None:
    headers = {"X-Moesif-Application-Id": "sandbox-app-id"}

    absolute = collector.handle(
        "POST", "http://proxy.example/v1/users", headers, b'{"user_id": "a"}'
    )
    slashed = collector.handle("POST", "/v1/users/?x=1", headers, b'{"user_id": "b"}')

    assert (absolute.status, slashed.status) == (201, 201)


def test_every_problem_is_listed_and_the_message_counts_the_rest(collector: Collector) -> None:
    headers = {"X-Moesif-Application-Id": "sandbox-app-id"}

    outcome = collector.handle("POST", "/v1/events", headers, b'{"request": {"verb": "GET"}}')

    assert outcome.json() == {
        "message": "request.time is required (and 2 more problems)",
        "errors": [
            "request.time is required",
            "request.uri is required",
            "request.headers is required",
        ],
    }
