"""What the sandbox keeps and serves: profile upserts, config and rules, the request log.

Also its housekeeping: reset, NDJSON export, and waiting for items to arrive.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from moesifapi.testing import Collector, default_config

if TYPE_CHECKING:
    from conftest import Sender

APP_HEADERS = {"X-Moesif-Application-Id": "sandbox-app-id"}


def encode(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


def post(collector: Collector, path: str, body: object) -> int | None:
    return collector.handle("POST", f"/v1{path}", APP_HEADERS, encode(body)).status


# -- upserts --------------------------------------------------------------------------


def test_two_partial_user_updates_merge_into_one_profile(
    send: Sender, collector: Collector
) -> None:
    first = {
        "user_id": "u1",
        "session_token": "token-a",
        "ip_address": "10.0.0.1",
        "metadata": {"email": "a@example.com", "plan": {"name": "free", "seats": 1}},
    }
    second = {
        "user_id": "u1",
        "session_token": "token-b",
        "metadata": {"plan": {"seats": 5}, "country": "NZ"},
    }

    assert send("POST", "/users", encode(first)).status == 201
    assert send("POST", "/users/batch", encode([second])).status == 201

    assert collector.users["u1"] == {
        "user_id": "u1",
        "session_token": "token-b",  # newer fields override
        "ip_address": "10.0.0.1",  # fields not re-sent are kept
        "metadata": {
            "email": "a@example.com",
            "plan": {"name": "free", "seats": 5},  # nested objects merge recursively
            "country": "NZ",
        },
    }
    assert collector.user_session_tokens("u1") == ["token-a", "token-b"]


def test_session_tokens_accumulate_once_each(collector: Collector) -> None:
    for token in ["t1", "t2", "t1", "t3"]:
        post(collector, "/companies", {"company_id": "c1", "session_token": token})

    assert collector.company_session_tokens("c1") == ["t1", "t2", "t3"]
    assert collector.companies["c1"]["session_token"] == "t3"
    assert collector.user_session_tokens("nobody") == []


def test_null_means_not_sent_and_erases_nothing(collector: Collector) -> None:
    post(collector, "/users", {"user_id": "u1", "ip_address": "1.2.3.4", "metadata": {"a": 1}})
    post(collector, "/users", {"user_id": "u1", "ip_address": None, "metadata": {"a": None}})

    assert collector.users["u1"] == {"user_id": "u1", "ip_address": "1.2.3.4", "metadata": {"a": 1}}


def test_arrays_are_replaced_not_merged(collector: Collector) -> None:
    post(
        collector,
        "/subscriptions",
        {"subscription_id": "s1", "company_id": "c1", "items": [{"plan_id": "a"}]},
    )
    post(
        collector,
        "/subscriptions",
        {"subscription_id": "s1", "company_id": "c1", "items": [{"plan_id": "b"}]},
    )

    assert collector.subscriptions["s1"]["items"] == [{"plan_id": "b"}]


def test_updates_within_one_batch_apply_in_order(collector: Collector) -> None:
    post(
        collector,
        "/users/batch",
        [
            {"user_id": "u1", "metadata": {"n": 1}},
            {"user_id": "u2"},
            {"user_id": "u1", "metadata": {"n": 2}},
        ],
    )

    assert collector.users == {
        "u1": {"user_id": "u1", "metadata": {"n": 2}},
        "u2": {"user_id": "u2"},
    }


def test_snapshots_do_not_change_when_later_updates_arrive(collector: Collector) -> None:
    post(collector, "/users", {"user_id": "u1", "metadata": {"n": 1}})
    before = collector.users

    post(collector, "/users", {"user_id": "u1", "metadata": {"n": 2}})

    assert before["u1"]["metadata"] == {"n": 1}


def test_events_and_actions_keep_arrival_order(collector: Collector, bodies: Any) -> None:
    events = [dict(bodies["events"], transaction_id=str(n)) for n in range(5)]
    post(collector, "/events", events[0])
    post(collector, "/events/batch", events[1:4])
    post(collector, "/events", events[4])
    post(collector, "/actions/batch", [dict(bodies["actions"], action_name=n) for n in "ab"])

    assert [e["transaction_id"] for e in collector.events] == ["0", "1", "2", "3", "4"]
    assert [a["action_name"] for a in collector.actions] == ["a", "b"]


# -- config and rules ------------------------------------------------------------------


def test_config_is_served_with_its_etag(send: Sender, collector: Collector) -> None:
    reply = send("GET", "/config")

    assert reply.status == 200
    assert reply.json() == collector.config == default_config()
    assert reply.json()["sample_rate"] == 100
    assert reply.headers["x-moesif-config-etag"] == collector.config_etag


def test_changing_the_config_changes_its_etag_everywhere(
    send: Sender, collector: Collector
) -> None:
    old_etag = collector.config_etag

    collector.config = {**collector.config, "sample_rate": 25}

    reply = send("GET", "/config")
    write = send("POST", "/users", encode({"user_id": "u1"}))
    assert reply.json()["sample_rate"] == 25
    assert reply.headers["x-moesif-config-etag"] == collector.config_etag != old_etag
    assert write.headers["x-moesif-config-etag"] == collector.config_etag


def test_rules_are_served_with_their_tag_and_the_tag_follows_changes(
    send: Sender, collector: Collector
) -> None:
    empty = send("GET", "/rules")
    rule = {"_id": "r1", "name": "Block free tier", "type": "user", "block": True}

    collector.rules = [rule]
    changed = send("GET", "/rules")

    assert (empty.status, empty.json()) == (200, [])
    assert changed.json() == [rule]
    assert empty.headers["x-moesif-rules-tag"] != changed.headers["x-moesif-rules-tag"]
    assert changed.headers["x-moesif-rules-tag"] == collector.rules_tag


def test_config_and_rules_are_copies(collector: Collector) -> None:
    collector.config["sample_rate"] = 1
    collector.rules.append({"x": 1})

    assert collector.config["sample_rate"] == 100
    assert collector.rules == []


def test_the_same_config_gives_the_same_etag() -> None:
    assert Collector().config_etag == Collector().config_etag
    assert Collector(config={"sample_rate": 5}).config_etag != Collector().config_etag


@pytest.mark.parametrize("bad", [{"when": object()}, "not a mapping"])
def test_config_must_be_a_json_object(collector: Collector, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        collector.config = bad


# -- the request log --------------------------------------------------------------------


def test_the_request_log_keeps_raw_requests_and_answers(send: Sender, collector: Collector) -> None:
    compressed = gzip.compress(encode([{"user_id": "u1"}]))

    send("POST", "/users/batch", compressed, {"Content-Encoding": "gzip"})
    send("GET", "/config", app_id="wrong")
    send("POST", "/users?debug=1", b"{oops")

    first, second, third = collector.requests
    assert (first.method, first.path, first.status) == ("POST", "/v1/users/batch", 201)
    assert first.body == compressed
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["x-moesif-application-id"] == "sandbox-app-id"
    assert first.json() == [{"user_id": "u1"}]
    assert (second.method, second.path, second.status) == ("GET", "/v1/config", 401)
    assert (third.path, third.status, third.body) == ("/v1/users?debug=1", 400, b"{oops")


def test_reset_forgets_everything(collector: Collector) -> None:
    post(collector, "/users", {"user_id": "u1", "session_token": "t"})
    collector.config = {"sample_rate": 1}
    collector.rules = [{"name": "r"}]
    collector.fail_next(5)
    collector.hold()

    collector.reset()

    assert (collector.users, collector.requests, collector.rules) == ({}, [], [])
    assert collector.user_session_tokens("u1") == []
    assert collector.config == default_config()
    assert post(collector, "/users", {"user_id": "u2"}) == 201  # no faults, no hold


def test_write_ndjson_dumps_one_line_per_stored_item(
    collector: Collector, bodies: Any, tmp_path: Path
) -> None:
    post(collector, "/events", bodies["events"])
    post(collector, "/actions", bodies["actions"])
    post(collector, "/users", {"user_id": "u1", "session_token": "t1"})
    post(collector, "/companies", bodies["companies"])
    post(collector, "/subscriptions", bodies["subscriptions"])

    count = collector.write_ndjson(tmp_path / "dump.ndjson")

    lines = [json.loads(line) for line in (tmp_path / "dump.ndjson").read_text().splitlines()]
    assert count == len(lines) == 5
    assert [line["type"] for line in lines] == [
        "event",
        "action",
        "user",
        "company",
        "subscription",
    ]
    assert lines[0]["data"] == bodies["events"]
    assert lines[2] == {
        "type": "user",
        "data": {"user_id": "u1", "session_token": "t1"},
        "session_tokens": ["t1"],
    }


def test_wait_until_wakes_when_items_arrive_from_another_thread(collector: Collector) -> None:
    def send_later() -> None:
        for n in range(3):
            post(collector, "/users", {"user_id": f"u{n}"})

    thread = threading.Thread(target=send_later)
    thread.start()

    assert collector.wait_until(lambda c: len(c.users) == 3, timeout=10)
    thread.join(10)


def test_wait_until_gives_up_after_its_timeout(collector: Collector) -> None:
    assert not collector.wait_until(lambda c: bool(c.events), timeout=0.01)
