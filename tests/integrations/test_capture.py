"""The capture core that every adapter shares: views, bodies, privacy, the client IP,
hooks, skip, sampling and governance. In process, on the sandbox's transport."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moesifapi import (
    AppConfig,
    EventModel,
    GovernanceRule,
    GovernanceRules,
    MoesifClient,
    ValidationError,
    from_dict,
)
from moesifapi.integrations import CapturedRequest, CapturedResponse, CaptureSettings, Headers
from moesifapi.integrations import _capture as capture_module
from moesifapi.integrations._capture import (
    BODY_OMITTED,
    BodyTap,
    Capture,
    body_fields,
    client_ip,
    settings_from,
)
from moesifapi.testing import Collector

STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ENDED = STARTED + timedelta(milliseconds=25)


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def client(collector: Collector) -> Iterator[MoesifClient]:
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as made:
        yield made


def a_request(
    body: bytes = b"", headers: list[tuple[str, str]] | None = None, **kwargs: Any
) -> CapturedRequest:
    pairs = headers if headers is not None else [("Content-Type", "application/json")]
    kwargs.setdefault("client_address", "203.0.113.9")
    return CapturedRequest(
        method=kwargs.pop("method", "POST"),
        url=kwargs.pop("url", "https://api.example.com/items?page=2"),
        headers=Headers(pairs),
        body=body,
        body_size=len(body),
        **kwargs,
    )


def a_response(
    status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> CapturedResponse:
    pairs = headers if headers is not None else [("Content-Type", "application/json")]
    return CapturedResponse(status=status, headers=Headers(pairs), body=body, body_size=len(body))


def recorded(client: MoesifClient, collector: Collector) -> list[dict[str, Any]]:
    client.flush()
    return collector.events


# --- views ---


def test_headers_are_case_insensitive_and_repeats_are_joined() -> None:
    headers = Headers([("Accept", "a/b"), ("X-Tag", "1"), ("x-tag", "2")])
    assert headers["accept"] == "a/b"
    assert headers["X-TAG"] == "1, 2"
    assert "ACCEPT" in headers
    assert 7 not in headers
    assert list(headers) == ["Accept", "X-Tag"]
    assert len(headers) == 2
    assert headers.get("x-tag") == "1, 2"
    assert headers.get("missing", "-") == "-"
    assert list(headers.items()) == [("Accept", "a/b"), ("X-Tag", "1, 2")]
    assert list(headers.keys()) == ["Accept", "X-Tag"]
    assert headers == {"Accept": "a/b", "X-Tag": "1, 2"}
    raw = Headers.from_raw([(b"content-type", b"text/plain"), (b"x-name", "é".encode("latin-1"))])
    assert raw.to_dict() == {"content-type": "text/plain", "x-name": "é"}


def test_a_captured_request_has_its_path_without_the_query() -> None:
    assert a_request(url="https://h.example/a/b?x=1").path == "/a/b"
    assert a_request(url="https://h.example").path == "/"


# The body tap as written in Python, and its C twin where the speed-up is built (the
# one the adapters use then).
TAPS = [
    pytest.param(capture_module.PyBodyTap, id="python"),
    pytest.param(
        BodyTap,
        id="c",
        marks=pytest.mark.skipif(BodyTap is capture_module.PyBodyTap, reason="no C speed-up"),
    ),
]


@pytest.mark.parametrize("tap_class", TAPS)
def test_the_body_tap_keeps_the_first_bytes_and_counts_them_all(tap_class: Any) -> None:
    tap = tap_class(5)
    for chunk in (b"abc", b"", b"defg", b"hij"):
        tap.feed(chunk)
    assert tap.captured() == b"abcde"
    assert tap.captured() == b"abcde"  # asked again: the same bytes
    assert (tap.size, tap.limit, tap.truncated) == (10, 5, True)
    empty = tap_class(0)
    empty.feed(b"xyz")
    assert (empty.captured(), empty.size, empty.truncated) == (b"", 3, True)
    whole = tap_class(limit=4)
    whole.feed(b"abcd")
    assert (whole.captured(), whole.truncated) == (b"abcd", False)


@pytest.mark.parametrize("tap_class", TAPS)
def test_the_body_tap_takes_any_bytes_like_chunk_and_refuses_one_with_no_length(
    tap_class: Any,
) -> None:
    tap = tap_class(5)
    tap.feed(bytearray(b"ab"))
    tap.feed(memoryview(b"cdefg"))
    assert (bytes(tap.captured()), tap.size) == (b"abcde", 7)
    with pytest.raises(TypeError):
        tap.feed(5)


@given(
    st.integers(min_value=-2, max_value=40),
    st.lists(st.binary(max_size=16), max_size=8),
)
def test_the_c_body_tap_keeps_and_counts_what_the_python_one_does(
    limit: int, chunks: list[bytes]
) -> None:
    if BodyTap is capture_module.PyBodyTap:
        pytest.skip("no C speed-up")
    python, c = capture_module.PyBodyTap(limit), BodyTap(limit)
    for chunk in chunks:
        python.feed(chunk)
        c.feed(chunk)
        assert (c.size, c.truncated) == (python.size, python.truncated)
    assert c.captured() == python.captured()


# --- settings ---


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_body_bytes": -1}, "max_body_bytes"),
        ({"max_body_bytes": True}, "max_body_bytes"),
        ({"trusted_proxies": "10.0.0.1"}, "trusted_proxies"),
        ({"trusted_proxies": ["not an address"]}, "trusted_proxies"),
        ({"skip_paths": "/health"}, "skip_paths"),
        ({"private_headers": [1]}, "private_headers"),
        ({"identify_user": "user-1"}, "identify_user"),
        ({"log_body": "yes"}, "log_body"),
        ({"transaction_id_header": "Bad Header"}, "transaction_id_header"),
        ({"identify": lambda r, s: None}, "identify"),
    ],
)
def test_bad_settings_are_a_validation_error_naming_the_setting(
    options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings_from(options)
    assert raised.value.field == field


# --- the client IP ---

TRUSTED = CaptureSettings(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # an untrusted peer's headers are never believed
        ("203.0.113.9", {"x-forwarded-for": "1.2.3.4"}, "203.0.113.9"),
        # behind a trusted proxy, the right-most address that is not a trusted hop
        ("10.0.0.1", {"x-forwarded-for": "1.2.3.4, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"),
        ("10.0.0.1", {"x-forwarded-for": "10.1.1.1, 10.0.0.2"}, "10.0.0.1"),
        ("10.0.0.1", {}, "10.0.0.1"),
        ("10.0.0.1", {"x-forwarded-for": "garbage, 10.0.0.2"}, "10.0.0.1"),
        ("::1", {"forwarded": 'for="[2001:db8::5]:4711";proto=https'}, "2001:db8::5"),
        ("10.0.0.1", {"forwarded": "for=192.0.2.60:8080, for=10.0.0.3"}, "192.0.2.60"),
        (None, {"x-forwarded-for": "1.2.3.4"}, None),
    ],
)
def test_the_client_ip_is_read_behind_trusted_proxies_only(
    peer: str | None, headers: dict[str, str], expected: str | None
) -> None:
    assert client_ip(peer, Headers(headers.items()), TRUSTED) == expected


def test_with_no_trusted_proxies_the_peer_is_the_client() -> None:
    headers = Headers([("X-Forwarded-For", "1.2.3.4")])
    assert client_ip("10.0.0.1", headers, ()) == "10.0.0.1"


# --- bodies ---

SETTINGS = CaptureSettings()


def fields(body: bytes, content_type: str | None, **settings: Any) -> tuple[object, str | None]:
    headers = Headers([("Content-Type", content_type)] if content_type else [])
    return body_fields(body, len(body), headers, CaptureSettings(**settings))


def test_a_json_body_goes_as_json_with_private_fields_masked_at_any_depth() -> None:
    body = {"user": "ann", "auth": {"Password": "pw", "items": [{"api_token": "t"}]}}
    value, encoding = fields(json.dumps(body).encode(), "application/json; charset=utf-8")
    assert value == {"user": "ann", "auth": {"Password": "***", "items": [{"api_token": "***"}]}}
    assert encoding is None
    assert fields(b'{"a": 1}', "application/vnd.api+json") == ({"a": 1}, None)
    assert fields(b"[1, 2]", None) == ([1, 2], None)


def test_text_goes_as_base64_and_binary_as_its_size() -> None:
    assert fields(b"hello", "text/plain") == ("aGVsbG8=", "base64")
    assert fields(b"a=1&b=2", "application/x-www-form-urlencoded") == ("YT0xJmI9Mg==", "base64")
    value, encoding = fields(b"\x89PNG\r\n", "image/png")
    assert value == {BODY_OMITTED: {"reason": "image/png is not text", "size": 6}}
    assert encoding is None
    value, _ = fields(b"\xff\xfe", "text/plain")
    assert value == {BODY_OMITTED: {"reason": "not UTF-8 text", "size": 2}}


def test_a_body_over_the_cap_is_a_size_marker() -> None:
    big = b"x" * 11
    value, _ = body_fields(big[:10], 11, Headers([]), CaptureSettings(max_body_bytes=10))
    assert value == {BODY_OMITTED: {"reason": "larger than max_body_bytes=10", "size": 11}}


def test_a_gzip_body_is_decoded_and_a_bomb_is_a_size_marker() -> None:
    packed = gzip.compress(b'{"ok": true}')
    headers = Headers([("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
    assert body_fields(packed, len(packed), headers, SETTINGS) == ({"ok": True}, None)
    bomb = gzip.compress(b"0" * 1_000_000)
    value, _ = body_fields(bomb, len(bomb), headers, SETTINGS)
    assert value[BODY_OMITTED]["size"] == len(bomb)  # type: ignore[index]
    broken = packed[:-6]
    value, _ = body_fields(broken, len(broken), headers, SETTINGS)
    assert BODY_OMITTED in value  # type: ignore[operator]


def test_json_nested_past_the_model_limit_goes_as_text() -> None:
    deep = b"[" * 150 + b"]" * 150
    assert fields(deep, "application/json") == (
        fields(deep, "text/plain")[0],
        "base64",
    )


def test_log_body_off_and_size_only_media_types_send_no_content() -> None:
    assert fields(b'{"a": 1}', "application/json", log_body=False) == (None, None)
    value, _ = fields(b"<a/>", "application/xml", size_only_media_types=["APPLICATION/XML"])
    assert value == {BODY_OMITTED: {"reason": "application/xml is logged as size only", "size": 4}}
    assert fields(b"", "application/json") == (None, None)


# --- privacy ---


@pytest.mark.parametrize(
    ("name", "private"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-API-Key", True),
        ("X-Refresh-Token", True),
        ("x-client-secret", True),
        ("X-Password-Hint", True),
        ("Accept", False),
        ("X-Request-Id", False),
    ],
)
def test_private_headers_by_default(name: str, private: bool) -> None:
    assert SETTINGS.is_private_header(name) is private


def test_private_lists_extend_and_can_be_turned_off() -> None:
    extended = CaptureSettings(private_headers=["X-Internal"], private_body_fields=["ssn"])
    assert extended.is_private_header("x-internal")
    assert extended.is_private_header("Authorization")
    assert extended.is_private_field("SSN")
    bare = CaptureSettings(mask_private=False, private_headers=["X-Internal"])
    assert not bare.is_private_header("Authorization")
    assert bare.is_private_header("X-Internal")
    assert not bare.is_private_field("password")


def test_the_event_masks_private_headers_before_it_is_queued(
    client: MoesifClient, collector: Collector
) -> None:
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    request = a_request(
        b'{"password": "pw", "n": 1}',
        headers=[("Content-Type", "application/json"), ("Authorization", "Bearer s3cret")],
    )
    response = a_response(200, b"{}", [("Content-Type", "application/json"), ("Set-Cookie", "s=1")])
    assert capture.record(request, response, STARTED, ENDED, transaction_id="t-1")
    [event] = recorded(client, collector)
    assert event["request"]["headers"]["Authorization"] == "***"
    assert event["request"]["body"] == {"password": "***", "n": 1}
    assert event["response"]["headers"]["Set-Cookie"] == "***"
    assert "s3cret" not in json.dumps(event)


# --- hooks, skip, the transaction id ---


def test_the_hooks_fill_the_event(client: MoesifClient, collector: Collector) -> None:
    seen: list[tuple[CapturedRequest, CapturedResponse | None]] = []

    def identify_user(request: CapturedRequest, response: CapturedResponse | None) -> str:
        seen.append((request, response))
        return request.headers["x-user-id"]

    capture = Capture(
        client,
        CaptureSettings(
            identify_user=identify_user,
            identify_company=lambda request, response: "acme",
            session_token=lambda request, response: "sess-1",
            metadata=lambda request, response: {"status_seen": response and response.status},
            sampling=False,
            governance=False,
        ),
    )
    request = a_request(b'{"a": 1}', headers=[("X-User-Id", "u-7")])
    response = a_response(201, b"")
    capture.record(request, response, STARTED, ENDED, transaction_id="t-2")
    [event] = recorded(client, collector)
    assert (event["user_id"], event["company_id"], event["session_token"]) == (
        "u-7",
        "acme",
        "sess-1",
    )
    assert event["metadata"] == {"status_seen": 201}
    assert event["direction"] == "Incoming"
    assert event["transaction_id"] == "t-2"
    assert event["request"]["uri"] == "https://api.example.com/items?page=2"
    assert event["request"]["ip_address"] == "203.0.113.9"
    assert seen == [(request, response)]


def test_a_hook_that_raises_or_returns_junk_never_breaks_the_capture(
    client: MoesifClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: CapturedRequest, response: CapturedResponse | None) -> str:
        raise RuntimeError("the hook is broken")

    capture = Capture(
        client,
        CaptureSettings(
            identify_user=broken,
            identify_company=lambda request, response: 42,
            metadata=lambda request, response: ["not", "a", "dict"],
            sampling=False,
            governance=False,
        ),
    )
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        assert capture.record(a_request(), a_response(), STARTED, ENDED, transaction_id="t")
    [event] = recorded(client, collector)
    assert "user_id" not in event
    assert "company_id" not in event
    assert "metadata" not in event
    assert "identify_user hook raised" in caplog.text
    assert "identify_company returned int" in caplog.text


@pytest.mark.parametrize("how", ["skip_paths", "skip", "mask"])
def test_skip_and_mask_leave_an_event_out(
    client: MoesifClient, collector: Collector, how: str
) -> None:
    options: dict[str, Any] = {
        "skip_paths": {"skip_paths": ["/health"]},
        "skip": {"skip": lambda request, response: response is not None and response.status == 204},
        "mask": {"mask": lambda event: None if event.request.verb == "GET" else event},
    }[how]
    capture = Capture(client, CaptureSettings(sampling=False, governance=False, **options))
    left_out = {
        "skip_paths": a_request(url="https://h.example/health"),
        "skip": a_request(),
        "mask": a_request(method="GET"),
    }[how]
    response = a_response(204 if how == "skip" else 200)
    assert capture.record(left_out, response, STARTED, ENDED, transaction_id="t") is False
    assert capture.record(a_request(), a_response(), STARTED, ENDED, transaction_id="kept")
    assert [e["transaction_id"] for e in recorded(client, collector)] == ["kept"]


def test_a_mask_that_changes_the_event_is_what_is_sent(
    client: MoesifClient, collector: Collector
) -> None:
    def mask(event: EventModel) -> EventModel:
        event.metadata = {"masked": True}
        return event

    capture = Capture(client, CaptureSettings(mask=mask, sampling=False, governance=False))
    capture.record(a_request(), a_response(), STARTED, ENDED, transaction_id="t")
    assert recorded(client, collector)[0]["metadata"] == {"masked": True}


def test_the_transaction_id_is_the_requests_own_or_a_new_one(client: MoesifClient) -> None:
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    assert capture.transaction_id(Headers([("X-Moesif-Transaction-Id", "abc-1")])) == "abc-1"
    fresh = capture.transaction_id(Headers([]))
    assert len(fresh) == 36
    assert fresh != capture.transaction_id(Headers([]))
    assert capture.transaction_id(Headers([("X-Moesif-Transaction-Id", "a\nb")])) != "a\nb"
    off = Capture(client, CaptureSettings(transaction_id_header=None, sampling=False))
    assert off.transaction_id(Headers([("X-Moesif-Transaction-Id", "abc-1")])) != "abc-1"


def test_an_exchange_without_a_response_is_still_an_event(
    client: MoesifClient, collector: Collector
) -> None:
    capture = Capture(client, CaptureSettings(sampling=False, governance=False), "Outgoing")
    capture.record(a_request(), None, STARTED, ENDED, transaction_id="t")
    [event] = recorded(client, collector)
    assert "response" not in event
    assert event["direction"] == "Outgoing"


def test_record_never_raises_even_on_a_closed_client(client: MoesifClient) -> None:
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    client.close()
    assert capture.record(a_request(), a_response(), STARTED, ENDED, transaction_id="t") is False
    assert client.stats.dropped == 1


# --- sampling and governance ---


@pytest.fixture
def held_only(client: MoesifClient, monkeypatch: pytest.MonkeyPatch) -> MoesifClient:
    """The client never fetches: the config and rules a test gives it stay put."""
    monkeypatch.setattr(client, "_freshen", lambda: None)
    return client


def test_capture_samples_by_its_own_setting(held_only: MoesifClient, collector: Collector) -> None:
    client = held_only
    client._steering.config = AppConfig(sample_rate=0)
    sampled = Capture(client, CaptureSettings(sampling=True, governance=False))
    unsampled = Capture(client, CaptureSettings(sampling=False, governance=False))
    assert sampled.record(a_request(), a_response(), STARTED, ENDED, transaction_id="a") is False
    assert unsampled.record(a_request(), a_response(), STARTED, ENDED, transaction_id="b")
    assert [e["transaction_id"] for e in recorded(client, collector)] == ["b"]
    assert client.stats.sampled_out == 1


BLOCK_FREE = {
    "_id": "free",
    "type": "user",
    "block": True,
    "applied_to": "matching",
    "applied_to_unidentified": False,
    "response": {"status": 402, "headers": {"X-Why": "plan"}, "body": {"error": "pay"}},
    "regex_config": [],
}
BY_BODY = {
    "_id": "by-body",
    "type": "regex",
    "block": False,
    "response": {"headers": {"X-Op": "seen"}},
    "regex_config": [{"conditions": [{"path": "request.body.operationName", "value": "^Q"}]}],
}


def held_rules(client: MoesifClient, *rules: dict[str, Any], **config: Any) -> None:
    client._steering.rules = GovernanceRules(tuple(from_dict(GovernanceRule, r) for r in rules))
    client._steering.config = from_dict(AppConfig, config)


def test_govern_identifies_before_the_app_runs_and_applies_the_rules(
    held_only: MoesifClient,
) -> None:
    client = held_only
    calls: list[CapturedResponse | None] = []

    def identify_user(request: CapturedRequest, response: CapturedResponse | None) -> str:
        calls.append(response)
        return request.headers.get("x-user-id", "")

    capture = Capture(client, CaptureSettings(identify_user=identify_user, sampling=False))
    assert not capture.governs()
    held_rules(client, BLOCK_FREE, user_rules={"u-free": [{"rules": "free"}]})
    assert capture.governs()
    assert not capture.governs_by_body()
    decision = capture.govern(a_request(headers=[("X-User-Id", "u-free")]))
    assert (decision.blocked_by, decision.status, decision.body) == ("free", 402, {"error": "pay"})
    assert not capture.govern(a_request(headers=[("X-User-Id", "u-paid")])).blocked
    assert calls == [None, None]


def test_govern_reads_json_bodies_when_a_rule_looks_into_them(held_only: MoesifClient) -> None:
    client = held_only
    capture = Capture(client, CaptureSettings(sampling=False))
    held_rules(client, BY_BODY)
    assert capture.governs_by_body()
    decision = capture.govern(a_request(b'{"operationName": "QueryItems"}'))
    assert dict(decision.headers) == {"X-Op": "seen"}
    off = Capture(client, CaptureSettings(sampling=False, governance=False))
    assert not off.governs()
    assert not off.governs_by_body()
    assert not off.govern(a_request(b'{"operationName": "QueryItems"}')).applied


def test_wide_json_is_json_and_deep_json_is_text_with_or_without_private_fields() -> None:
    wide = json.dumps([{"id": n, "tags": [n]} for n in range(200)]).encode()
    assert fields(wide, "application/json")[0] == json.loads(wide)
    assert fields(b"[" * 150 + b"]" * 150, "application/json")[1] == "base64"
    deep_under_private = b'[{"token": ' + b"[" * 150 + b"]" * 150 + b', "x": [[1]]}]'
    assert fields(deep_under_private, "application/json") == ([{"token": "***", "x": [[1]]}], None)
    deep_beside_private = b'[{"token": 1, "x": ' + b"[" * 150 + b"]" * 150 + b"}]"
    assert fields(deep_beside_private, "application/json")[1] == "base64"
    # A private word that is only a value, not a key, masks nothing.
    assert fields(b'{"note": "my password is safe"}', "application/json")[0] == {
        "note": "my password is safe"
    }


def test_with_log_body_off_no_body_is_read_for_governance(held_only: MoesifClient) -> None:
    client = held_only
    held_rules(client, BY_BODY)
    capture = Capture(client, CaptureSettings(sampling=False, log_body=False))
    assert capture.governs()
    assert not capture.governs_by_body()


@pytest.fixture(params=["orjson", "json"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies read with orjson (the `fast` extra) and with the standard library alike."""
    if request.param == "json":
        monkeypatch.setattr(capture_module, "_orjson", None)


@pytest.mark.usefixtures("reader")
@pytest.mark.parametrize("body", [b'{"a": NaN}', b"[Infinity]", b'{"a": -Infinity}'])
def test_nan_and_infinity_are_not_json_so_the_body_goes_as_text(body: bytes) -> None:
    assert fields(body, "application/json")[1] == "base64"


@pytest.mark.usefixtures("reader")
def test_an_int_past_64_bits_is_still_json() -> None:
    assert fields(b'{"n": 123456789012345678901234567890}', "application/json") == (
        {"n": 123456789012345678901234567890},
        None,
    )


@pytest.mark.usefixtures("reader")
def test_json_bodies_read_the_same_with_either_reader() -> None:
    body = json.dumps({"a": [1, 2.5, "x", None, True], "é": {"b": -3}}).encode()
    assert fields(body, "application/json") == (json.loads(body), None)
    assert fields(b'{"a": ', "application/json")[1] == "base64"


@pytest.mark.parametrize("adapter", ["asgi", "wsgi", "httpx"])
def test_no_adapter_imports_a_framework(adapter: str) -> None:
    frameworks = (
        "starlette fastapi uvicorn django quart litestar anyio flask werkzeug falcon bottle"
    )
    code = (
        f"import sys, moesifapi.integrations.{adapter}\n"
        f"names = {frameworks.split()!r}\n"
        "print([name for name in names if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_blocked_answer_has_the_rules_headers_and_its_own_length() -> None:
    from moesifapi import GovernanceDecision
    from moesifapi.integrations._capture import blocked_answer

    decision = GovernanceDecision(
        blocked_by="r", headers={"X-Why": "quota", "Content-Length": "999"}, body={"e": 1}
    )
    status, headers, body = blocked_answer(decision)
    assert (status, body) == (403, b'{"e":1}')
    assert headers == [
        ("X-Why", "quota"),
        ("Content-Type", "application/json"),
        ("Content-Length", "7"),
    ]
    own_type = GovernanceDecision(blocked_by="r", status=429, headers={"content-type": "text/x"})
    status, headers, body = blocked_answer(own_type)
    assert (status, headers, body) == (
        429,
        [("content-type", "text/x"), ("Content-Length", "0")],
        b"",
    )
