"""relay_app: the WSGI app Segment posts to, called directly as a WSGI server would.

What it answers for each kind of request, its shared-secret check, and what it forwards.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import attrs
import httpx
import pytest

from moesifapi import MoesifClient, ValidationError
from moesifapi.segment import SegmentRelay, relay_app
from moesifapi.testing import Collector

SECRET = "s3cret-write-key"
TRACK = {"type": "track", "messageId": "m-1", "userId": "userId123", "event": "Signed Up"}
BATCH = {
    "batch": [
        TRACK,
        {"type": "identify", "messageId": "m-2", "userId": "userId123", "traits": {"plan": "pro"}},
        {"type": "page", "messageId": "m-3", "userId": "userId123"},
    ]
}


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def call(
    app: SegmentRelay,
    body: bytes | dict[str, Any] | list[Any] = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    content_length: str | None = None,
    content_type: str | None = "application/json",
) -> Answer:
    """One request through the WSGI callable; `headers` as HTTP header names."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(raw)) if content_length is None else content_length,
        "wsgi.input": io.BytesIO(raw),
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append((status, headers))
        return lambda data: None  # the write() callable; the relay returns its body instead

    chunks = app(environ, start_response)
    ((status, answer_headers),) = started
    return Answer(int(status.split()[0]), dict(answer_headers), json.loads(b"".join(chunks)))


def basic(username: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def signature(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


@pytest.fixture
def client(moesif_collector: Collector) -> Iterator[MoesifClient]:
    http = httpx.Client(transport=moesif_collector.transport())
    with MoesifClient(
        application_id=moesif_collector.application_id,
        base_url=moesif_collector.base_url,
        http_client=http,
    ) as client:
        yield client
    http.close()


@pytest.fixture
def relay(client: MoesifClient) -> SegmentRelay:
    return relay_app(client)


@pytest.fixture
def secured_relay(client: MoesifClient) -> SegmentRelay:
    return relay_app(client, shared_secret=SECRET)


# --- what it forwards ---


def test_a_batch_is_queued_and_answered_with_the_report(relay: SegmentRelay) -> None:
    answer = call(relay, BATCH)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body == {
        "success": True,
        "delivery": "queued",
        "messages": 3,
        "users": 1,
        "companies": 0,
        "actions": 1,
        "not_queued": 0,
        "skipped": [
            {
                "message_id": "m-3",
                "message_type": "page",
                "reason": "unsupported_type",
                "detail": "page calls are not sent to Moesif; its destination takes identify"
                " and track",
            }
        ],
    }


def test_what_the_relay_queued_reaches_moesif_when_the_client_flushes(
    relay: SegmentRelay, client: MoesifClient, moesif_collector: Collector
) -> None:
    call(relay, BATCH)
    assert client.flush(timeout=5)
    assert moesif_collector.users["userId123"]["metadata"] == {"plan": "pro"}
    assert [action["transaction_id"] for action in moesif_collector.actions] == ["m-1"]


def test_a_single_message_is_accepted(relay: SegmentRelay) -> None:
    answer = call(relay, TRACK)
    assert (answer.status, answer.body["actions"]) == (200, 1)


def test_a_gzip_body_is_accepted(relay: SegmentRelay) -> None:
    answer = call(
        relay, gzip.compress(json.dumps(BATCH).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert (answer.status, answer.body["messages"]) == (200, 3)


def test_invalid_messages_in_a_batch_are_reported_not_refused(relay: SegmentRelay) -> None:
    answer = call(relay, {"batch": [TRACK, {**TRACK, "timestamp": "later"}, 7]})
    assert answer.status == 200
    assert [skip["reason"] for skip in answer.body["skipped"]] == ["invalid_message"] * 2
    assert [skip["field"] for skip in answer.body["skipped"]] == ["batch[1].timestamp", "batch[2]"]


def deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth  # json.dumps would recurse


def test_a_single_invalid_message_is_a_400_naming_the_path_and_nothing_is_queued(
    relay: SegmentRelay, client: MoesifClient
) -> None:
    body = '{"type": "identify", "userId": "u", "traits": {"address": ' + deep(150) + "}}"
    answer = call(relay, body.encode())
    assert (answer.status, answer.body["success"], answer.body["code"]) == (
        400,
        False,
        "invalid_message",
    )
    assert answer.body["field"].startswith("traits.address.a.a")
    assert answer.body["message"].startswith("the message is invalid: traits.address.a.a")
    assert "more than 100 deep" in answer.body["message"]
    assert client.stats.queued == 0


def test_a_batch_of_only_invalid_messages_is_a_400_naming_the_first(
    relay: SegmentRelay, client: MoesifClient, moesif_collector: Collector
) -> None:
    surrogate = '{"type": "track", "userId": "u", "event": "e", "properties": {"tag": "\\ud800"}}'
    body = '{"batch": [' + surrogate + ", 7, " + surrogate + "]}"
    answer = call(relay, body.encode())
    assert (answer.status, answer.body["code"]) == (400, "invalid_message")
    assert answer.body["field"] == "batch[0].properties.tag"
    assert answer.body["message"] == (
        "every message of the batch is invalid (3), so none was queued; the first,"
        " batch[0]: properties.tag: contains a lone surrogate; not valid UTF-8"
    )
    assert client.flush(timeout=5)
    assert (client.stats.queued, moesif_collector.requests) == (0, [])


def test_a_list_of_non_objects_is_a_400_naming_its_first_item(relay: SegmentRelay) -> None:
    answer = call(relay, [7, "track"])
    assert (answer.status, answer.body["code"], answer.body["field"]) == (
        400,
        "invalid_message",
        "[0]",
    )


def test_an_empty_batch_is_answered_200(relay: SegmentRelay) -> None:
    answer = call(relay, {"batch": []})
    assert (answer.status, answer.body["messages"]) == (200, 0)


# --- what it refuses ---


def test_malformed_json_is_a_400(relay: SegmentRelay) -> None:
    answer = call(relay, b'{"type": "track",')
    assert (answer.status, answer.body["success"], answer.body["code"]) == (
        400,
        False,
        "invalid_json",
    )
    assert answer.body["message"].startswith("the body is not JSON")


def test_nan_is_not_json(relay: SegmentRelay) -> None:
    answer = call(relay, b'{"type": "track", "event": "x", "properties": {"n": NaN}}')
    assert (answer.status, answer.body["code"]) == (400, "invalid_json")


def test_a_body_that_is_not_a_segment_payload_is_a_400_saying_why(relay: SegmentRelay) -> None:
    answer = call(relay, {"event": "Signed Up"})
    assert (answer.status, answer.body["code"]) == (400, "invalid_payload")
    assert "Segment message" in answer.body["message"]


def test_a_corrupt_gzip_body_is_a_400(relay: SegmentRelay) -> None:
    answer = call(relay, b"\x1f\x8b not really gzip", headers={"Content-Encoding": "gzip"})
    assert (answer.status, answer.body["code"]) == (400, "invalid_gzip")


def test_a_truncated_gzip_body_is_a_400(relay: SegmentRelay) -> None:
    whole = gzip.compress(json.dumps(BATCH).encode())
    answer = call(relay, whole[:-12], headers={"Content-Encoding": "gzip"})
    assert (answer.status, answer.body["code"]) == (400, "invalid_gzip")


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD"])
def test_anything_but_post_is_a_405_naming_post(relay: SegmentRelay, method: str) -> None:
    answer = call(relay, method=method)
    assert (answer.status, answer.headers["Allow"]) == (405, "POST")


def test_a_body_without_content_length_is_a_411(relay: SegmentRelay) -> None:
    assert call(relay, TRACK, content_length="").status == 411


def test_a_body_over_the_limit_is_a_413(client: MoesifClient) -> None:
    relay = relay_app(client, max_body_bytes=64)
    answer = call(relay, {"batch": [TRACK, TRACK]})
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_a_gzip_body_that_inflates_past_the_limit_is_a_413(client: MoesifClient) -> None:
    relay = relay_app(client, max_body_bytes=10_000)
    bomb = gzip.compress(b" " * 1_000_000)  # about 1 KB that inflates to 1 MB
    answer = call(relay, bomb, headers={"Content-Encoding": "gzip"})
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_another_content_encoding_is_a_415(relay: SegmentRelay) -> None:
    answer = call(relay, b"...", headers={"Content-Encoding": "br"})
    assert (answer.status, answer.body["code"]) == (415, "unsupported_encoding")


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "", None]
)
def test_a_body_not_declared_json_is_a_415_and_nothing_is_queued(
    relay: SegmentRelay, client: MoesifClient, content_type: str | None
) -> None:
    answer = call(relay, TRACK, content_type=content_type)
    assert (answer.status, answer.body["code"]) == (415, "unsupported_media_type")
    assert "application/json" in answer.body["message"]
    assert client.stats.queued == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.segment+json",
    ],
)
def test_json_content_types_are_accepted(relay: SegmentRelay, content_type: str) -> None:
    assert call(relay, TRACK, content_type=content_type).status == 200


def test_the_content_type_is_checked_after_the_secret(secured_relay: SegmentRelay) -> None:
    # An unauthenticated sender learns nothing but 401.
    answer = call(secured_relay, TRACK, content_type="text/plain")
    assert answer.status == 401


# --- the shared secret ---


def test_with_a_secret_a_request_without_credentials_is_a_401(
    secured_relay: SegmentRelay,
) -> None:
    answer = call(secured_relay, TRACK)
    assert (answer.status, answer.body["code"]) == (401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")


def test_the_secret_as_basic_username_is_accepted_as_segment_libraries_send_it(
    secured_relay: SegmentRelay,
) -> None:
    assert call(secured_relay, TRACK, headers=basic(SECRET)).status == 200


def test_the_secret_as_basic_password_is_accepted(secured_relay: SegmentRelay) -> None:
    assert call(secured_relay, TRACK, headers=basic("segment", SECRET)).status == 200


def test_a_wrong_basic_secret_is_a_401(secured_relay: SegmentRelay) -> None:
    assert call(secured_relay, TRACK, headers=basic("guess", "guess")).status == 401


def test_a_body_signed_with_the_secret_is_accepted(secured_relay: SegmentRelay) -> None:
    body = json.dumps(TRACK).encode()
    assert call(secured_relay, body, headers=signature(body)).status == 200


def test_a_signature_over_another_body_is_a_401(secured_relay: SegmentRelay) -> None:
    body = json.dumps(TRACK).encode()
    assert call(secured_relay, body, headers=signature(body + b" ")).status == 401


def test_a_signature_is_checked_on_the_gzip_bytes_as_sent(secured_relay: SegmentRelay) -> None:
    body = gzip.compress(json.dumps(TRACK).encode())
    headers = {**signature(body), "Content-Encoding": "gzip"}
    assert call(secured_relay, body, headers=headers).status == 200


def test_a_wrong_signature_is_refused_even_with_good_basic_credentials(
    secured_relay: SegmentRelay,
) -> None:
    body = json.dumps(TRACK).encode()
    headers = {**signature(body, secret="other"), **basic(SECRET)}
    assert call(secured_relay, body, headers=headers).status == 401


def test_nothing_is_queued_from_an_unauthorized_request(
    secured_relay: SegmentRelay, client: MoesifClient, moesif_collector: Collector
) -> None:
    call(secured_relay, BATCH)
    assert client.flush(timeout=5)
    assert moesif_collector.requests == []


# --- its settings ---


def test_an_empty_shared_secret_is_refused(client: MoesifClient) -> None:
    with pytest.raises(ValidationError, match="shared_secret"):
        relay_app(client, shared_secret="")


@pytest.mark.parametrize("limit", [0, -1, 1.5])
def test_a_size_limit_that_is_not_a_positive_int_is_refused(
    client: MoesifClient, limit: Any
) -> None:
    with pytest.raises(ValidationError, match="max_body_bytes"):
        relay_app(client, max_body_bytes=limit)


def test_its_repr_shows_neither_the_secret_nor_the_application_id(
    secured_relay: SegmentRelay, moesif_collector: Collector
) -> None:
    text = repr(secured_relay)
    assert SECRET not in text
    assert moesif_collector.application_id not in text
