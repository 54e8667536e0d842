"""Generated hostile payloads through the relay's WSGI app, in process: only 200 or 400.

Deep nesting (past the model's limit, and past what json reads), integers of thousands
of digits and lone surrogates written as JSON text, huge strings, non-object JSON, and
batches mixing good messages with bad ones. A 400 for invalid messages names the path
of the first problem, and nothing of a refused payload reaches the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_relay import call

from moesifapi import MoesifClient
from moesifapi._constants import MAX_JSON_DEPTH
from moesifapi.segment import SegmentRelay, relay_app
from moesifapi.testing import Collector

HOSTILE = "__hostile__"  # a placeholder string, replaced by raw JSON text after dumping
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_CODES = {"invalid_json", "invalid_payload", "invalid_message"}


def nested(depth: int, leaf: str = "1") -> str:
    """`depth` objects one inside the other, as JSON text (json.dumps would recurse)."""
    return '{"a":' * depth + leaf + "}" * depth


# Raw JSON text the models refuse, though json reads it: each makes its message invalid.
invalid_values = st.one_of(
    st.integers(MAX_JSON_DEPTH + 2, 200).map(nested),
    st.just('"\\ud800"'),
    st.just('{"key \\udfff": 1}'),
    st.just('["ok", "\\ud83d"]'),
)
# Raw JSON text the models take.
valid_values = st.one_of(
    st.integers(0, 40).map(nested),
    st.just('"' + "x" * 70_000 + '"'),
    st.just("12345678901234567890123456789"),
    st.just('"\\ud83d\\ude00"'),  # a proper surrogate pair
)
# Raw JSON text that makes the whole body unreadable, whichever message holds it.
unreadable_values = st.one_of(
    st.integers(3_000, 6_000).map(nested),  # past json's recursion limit
    st.integers(4_301, 6_000).map(lambda digits: "9" * digits),  # past int's digit limit
    st.just("1" + "0" * 5000),  # 10**5000
)


def message(kind: str, index: int) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "messageId": f"m-{index}", "userId": f"u-{index}"}
    if kind == "track":
        return {**base, "event": "Signed Up", "properties": {"value": HOSTILE}}
    if kind == "group":
        return {**base, "groupId": f"g-{index}", "traits": {"value": HOSTILE}}
    return {**base, "traits": {"value": HOSTILE}}


kinds = st.sampled_from(["identify", "track", "group"])


@st.composite
def payloads(draw: st.DrawFn) -> tuple[bytes, list[bool], str]:
    """A body, whether each of its messages is valid, and how they are wrapped."""
    count = draw(st.integers(1, 4))
    texts: list[str] = []
    valid: list[bool] = []
    for index in range(count):
        if draw(st.integers(0, 5)) == 0:
            texts.append(json.dumps(draw(st.sampled_from([7, "identify", None, [], True]))))
            valid.append(False)
            continue
        good = draw(st.booleans())
        value = draw(valid_values if good else invalid_values)
        texts.append(json.dumps(message(draw(kinds), index)).replace(f'"{HOSTILE}"', value))
        valid.append(good)
    wrapping = draw(st.sampled_from(["batch", "list", "single"]))
    if wrapping == "single":
        texts, valid = texts[:1], valid[:1]
        body = texts[0] if texts[0].startswith("{") else json.dumps(message("track", 0))
        valid = valid if texts[0].startswith("{") else [True]
    elif wrapping == "list":
        body = "[" + ", ".join(texts) + "]"
    else:
        body = '{"batch": [' + ", ".join(texts) + "]}"
    return body.encode(), valid, wrapping


@st.composite
def unreadable_payloads(draw: st.DrawFn) -> bytes:
    kind = draw(kinds)
    text = json.dumps(message(kind, 0)).replace(f'"{HOSTILE}"', draw(unreadable_values))
    if draw(st.booleans()):
        text = '{"batch": [' + text + "]}"
    return text.encode()


non_object_json = st.one_of(
    st.sampled_from([b"7", b'"track"', b"null", b"true", b"1e999999", b'"\\ud800"']),
    st.integers(2, 500).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    st.integers(4_301, 6_000).map(lambda digits: b"1" * digits),
)


@pytest.fixture
def sandbox() -> Iterator[tuple[Collector, MoesifClient, SegmentRelay]]:
    collector = Collector()
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=http,
        max_queue_size=100_000,
    ) as client:
        yield collector, client, relay_app(client)
    http.close()


def nothing_sent(collector: Collector, client: MoesifClient, queued_before: int) -> bool:
    requests_before = len(collector.requests)
    return (
        client.stats.queued == queued_before
        and client.flush(timeout=5)
        and len(collector.requests) == requests_before
    )


@EXAMPLES
@given(generated=payloads())
def test_messages_good_and_bad_get_200_if_any_is_good_else_400_naming_the_path(
    sandbox: tuple[Collector, MoesifClient, SegmentRelay],
    generated: tuple[bytes, list[bool], str],
) -> None:
    collector, client, relay = sandbox
    body, valid, wrapping = generated
    assert client.flush(timeout=5)
    queued_before = client.stats.queued

    answer = call(relay, body)
    event(f"{wrapping}: {answer.status}")

    bad = [index for index, good in enumerate(valid) if not good]
    item = {"batch": "batch[{}]", "list": "[{}]", "single": ""}[wrapping]
    if any(valid):
        assert answer.status == 200, answer.body
        assert client.stats.queued > queued_before
        skipped = [skip for skip in answer.body["skipped"] if skip["reason"] == "invalid_message"]
        assert [skip["field"].partition("]")[0] + "]" for skip in skipped] == [
            item.format(index) for index in bad
        ]
        assert client.flush(timeout=5)
    else:
        assert answer.status == 400, answer.body
        assert (answer.body["success"], answer.body["code"]) == (False, "invalid_message")
        field = answer.body["field"]
        assert field.startswith(item.format(bad[0]))
        if wrapping == "single" or field != item.format(bad[0]):  # an object, not 7 or null
            assert ".traits." in "." + field or ".properties." in "." + field
        assert nothing_sent(collector, client, queued_before)


@EXAMPLES
@given(body=st.one_of(unreadable_payloads(), non_object_json))
def test_a_body_json_cannot_read_or_that_is_no_payload_is_a_400_and_nothing_is_sent(
    sandbox: tuple[Collector, MoesifClient, SegmentRelay], body: bytes
) -> None:
    collector, client, relay = sandbox
    queued_before = client.stats.queued

    answer = call(relay, body)

    assert answer.status == 400, answer.body
    assert answer.body["success"] is False
    assert answer.body["code"] in ERROR_CODES
    assert answer.body["message"]
    if answer.body["code"] == "invalid_message":  # a list of lists: every item refused
        assert answer.body["field"] == "[0]"
    assert nothing_sent(collector, client, queued_before)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "identify", "track", "group", "\ud800", "2024-01-01T00:00:00Z"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "userId",
                    "groupId",
                    "event",
                    "traits",
                    "properties",
                    "batch",
                    "context",
                    "integrations",
                    "timestamp",
                    "messageId",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@EXAMPLES
@given(value=json_values)
def test_any_json_value_is_answered_200_or_400_never_500(
    sandbox: tuple[Collector, MoesifClient, SegmentRelay], value: object
) -> None:
    _, client, relay = sandbox
    body = json.dumps(value).encode()  # lone surrogates come out as \ud800 escapes
    queued_before = client.stats.queued

    answer = call(relay, body)
    event(f"{answer.status} {answer.body.get('code', '')}")

    assert answer.status in (200, 400), answer.body
    assert answer.body["success"] is (answer.status == 200)
    if answer.status == 400:
        assert answer.body["code"] in ERROR_CODES
        assert client.stats.queued == queued_before
        if answer.body["code"] == "invalid_message":
            assert isinstance(answer.body["field"], str)
