"""The C writer of a plain capture's event (`_speedups.capture_event`) and its twin.

`Capture.record_plain` hands the common exchange to the C speed-up and writes the rest
in Python (`Capture._plain_event`). Over generated exchanges, with the headers as a
server gives them (pairs of bytes or of str, names in any case, repeated, past ASCII)
and bodies of every kind, the C writer writes exactly the Python path's bytes or
leaves the exchange to it; and it does write the exchanges a web app mostly sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from moesifapi import MoesifClient, _wire
from moesifapi.integrations import CaptureSettings
from moesifapi.integrations import _capture as capture_module
from moesifapi.integrations._capture import Capture
from moesifapi.testing import Collector

pytestmark = pytest.mark.skipif(
    capture_module._capture_plan is None or capture_module._orjson is None,
    reason="no C writer in this build",
)

STARTED = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
ENDED = STARTED + timedelta(milliseconds=25)
PAYLOAD = json.dumps({"items": [{"id": i, "price": 9.99 + i} for i in range(5)]}).encode()


@pytest.fixture
def client() -> Iterator[MoesifClient]:
    collector = Collector()
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as made:
        yield made


def _capture(client: MoesifClient, **options: Any) -> Capture:
    capture = Capture(client, CaptureSettings(sampling=False, governance=False, **options))
    assert capture.plain
    assert capture._event_plan is not None
    return capture


def _both(capture: Capture, *args: Any) -> tuple[bytes | None, bytes]:
    """(the C writer's bytes or None, the Python path's bytes) for the same exchange."""
    written = capture_module._capture_event(capture._event_plan, *args)
    return written, capture._plain_event(*args)


def _exchange(
    request_headers: Any = (),
    response_headers: Any = (),
    *,
    request_body: bytes = b"",
    response_body: bytes = PAYLOAD,
    status: int | None = 200,
    **changes: Any,
) -> list[Any]:
    args: dict[str, Any] = {
        "method": "POST",
        "url": "http://127.0.0.1:8000/items?q=1",
        "ip": "127.0.0.1",
        "request_headers": list(request_headers),
        "request_body": request_body,
        "request_size": len(request_body),
        "status": status,
        "response_headers": list(response_headers),
        "response_body": response_body,
        "response_size": len(response_body),
        "started": STARTED,
        "ended": ENDED,
        "tid": "4a1f8c2e-0b7d-4e8a-9c3f-1d2e3f4a5b6c",
        "weight": None,
        "blocked_by": None,
    }
    args.update(changes)
    args["response_size"] = len(args["response_body"])
    return list(args.values())


JSON_ANSWER = [(b"content-type", b"application/json"), (b"content-length", b"120")]


def _remembered(capture: Capture, args: list[Any]) -> None:
    """What the Python path remembers of an exchange's names and content types."""
    capture._plain_event(*args)


def test_the_common_exchange_is_written_in_c_as_python_writes_it(client: MoesifClient) -> None:
    capture = _capture(client)
    request = [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer x"), *JSON_ANSWER]
    args = _exchange(request, JSON_ANSWER, request_body=b'{"name": "widget"}')
    first, python = _both(capture, *args)
    assert first is None  # nothing remembered yet: the Python path writes it, and learns
    written, python = _both(capture, *args)
    assert written == python
    event = json.loads(written)
    assert event["request"]["headers"]["authorization"] == "***"
    assert event["request"]["body"] == {"name": "widget"}
    assert event["response"]["body"] == json.loads(PAYLOAD)
    assert written.endswith(b'"direction":"Incoming"}')


def test_str_pairs_and_plain_headers_are_written_alike(client: MoesifClient) -> None:
    capture = _capture(client)
    request = [("Host", "h"), ("Content-Type", "application/json")]
    answer = [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b")]
    args = _exchange(request, answer, request_body=b"[1, 2]")
    _remembered(capture, args)
    written, python = _both(capture, *args)
    assert written is not None
    assert written == python
    assert json.loads(written)["response"]["headers"] == {
        "Content-Type": "application/json",
        "Set-Cookie": "***",
    }
    args[3] = capture.plain_str_headers(request)
    written, python = _both(capture, *args)
    assert written is not None
    assert written == python


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"response_headers": [(b"x-tag", b"a"), (b"X-Tag", b"b"), *JSON_ANSWER]}, "joined"),
        ({"response_headers": [(b"x-tag", "caf\xe9".encode("latin-1")), *JSON_ANSWER]}, "latin-1"),
        ({"response_headers": [(b"content-encoding", b"gzip"), *JSON_ANSWER]}, "encoded"),
        ({"response_body": b'{"password": "x"}'}, "masked"),
        ({"response_body": b'{"a": 1'}, "not JSON"),
        ({"response_headers": [(b"content-type", b"text/plain")]}, "base64"),
        ({"started": STARTED.astimezone(timezone(timedelta(hours=2)))}, "not UTC"),
        ({"url": "http://h/\udc80"}, "a lone surrogate"),
    ],
)
def test_what_c_leaves_to_python_is_left(
    client: MoesifClient, change: dict[str, Any], why: str
) -> None:
    capture = _capture(client)
    args = _exchange(**{"response_headers": JSON_ANSWER, **change})
    try:
        _remembered(capture, args)
    except TypeError:
        assert why == "a lone surrogate"  # orjson refuses it; the model path says why
    written = capture_module._capture_event(capture._event_plan, *args)
    assert written is None, why


def test_the_body_cap_and_log_body_are_the_python_paths(client: MoesifClient) -> None:
    for options in ({"max_body_bytes": 10}, {"log_body": False}):
        capture = _capture(client, **options)
        args = _exchange((), JSON_ANSWER)
        _remembered(capture, args)
        written, python = _both(capture, *args)
        if options == {"log_body": False}:
            assert written == python
            assert b'"body"' not in written
        else:
            assert written is None  # the size marker is written by the Python path


# --- generated exchanges ---

_names = st.sampled_from(
    ["host", "Host", "accept", "X-Tag", "x-tag", "Authorization", "cookie", "X-Api-Token",
     "content-type", "Content-Type", "content-encoding", "user-agent", "X-\xe9"]
)  # fmt: skip
_values = st.text(st.characters(codec="latin-1"), max_size=12)
_content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "Application/Vnd.Api+JSON",
     "text/plain", "", "application/octet-stream", "image/png"]
)  # fmt: skip
_json_texts = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "id", "token", "Pass\\u0077ord", "é"]), children)
    ),
    max_leaves=8,
).map(lambda value: json.dumps(value).encode())
_bodies = st.one_of(
    st.just(b""),
    _json_texts,
    st.binary(max_size=24),
    st.sampled_from([b' {"a": 1}', b'\x0b{"a": 1}', b"[1, 2", b'{"a": 1} x', PAYLOAD]),
)


@st.composite
def _pairs(draw: st.DrawFn, as_bytes: bool) -> Any:
    pairs = draw(st.lists(st.tuples(_names, _values), max_size=6))
    if draw(st.booleans()):
        pairs.append(("content-type", draw(_content_types)))
    if as_bytes:
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
    return pairs


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    as_bytes=st.booleans(),
    data=st.data(),
    request_body=_bodies,
    response_body=_bodies,
    status=st.sampled_from([None, 200, 404]),
    weight=st.sampled_from([None, 1, 7]),
    blocked_by=st.sampled_from([None, "rule-1"]),
    ip=st.sampled_from([None, "10.0.0.1"]),
    text=st.text(max_size=8),
    max_body_bytes=st.sampled_from([16, 100_000]),
)
def test_c_writes_what_python_writes_or_leaves_it(
    client: MoesifClient,
    as_bytes: bool,
    data: st.DataObject,
    request_body: bytes,
    response_body: bytes,
    status: int | None,
    weight: int | None,
    blocked_by: str | None,
    ip: str | None,
    text: str,
    max_body_bytes: int,
) -> None:
    capture = _capture(client, max_body_bytes=max_body_bytes, private_headers=["x-tag"])
    args = _exchange(
        data.draw(_pairs(as_bytes)),
        data.draw(_pairs(as_bytes)),
        request_body=request_body,
        response_body=response_body,
        status=status,
        weight=weight,
        blocked_by=blocked_by,
        ip=ip,
        method=text or "GET",
        url=f"http://h/{text}",
    )
    for _ in range(2):  # the second time with what the Python path remembered
        try:
            python: bytes | None = capture._plain_event(*args)
        except (TypeError, ValueError):
            python = None  # refused (a lone surrogate): the model path decides
        written = capture_module._capture_event(capture._event_plan, *args)
        event("written in C" if written is not None else "left to Python")
        if written is not None:
            assert written == python


# --- the other helpers of the adapters' path ---


@given(st.lists(st.tuples(_names, _values), max_size=6), st.sampled_from([b"x-moesif-id", b"a"]))
def test_pick_headers_reads_what_headers_reads(pairs: list[tuple[str, str]], name: bytes) -> None:
    from moesifapi.integrations import Headers

    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
    raw.append((b"X-Moesif-Id", b"t"))
    view = Headers.from_raw(raw)
    assert capture_module.pick_headers is not None
    assert capture_module.pick_headers(raw, (b"host", name)) == (
        view.get("host"),
        view.get(name.decode()),
    )
    assert capture_module.pick_headers([(b"host", "text")], (b"host",)) is None  # not bytes


_MISSING = object()
_scope_parts = {
    "scheme": st.sampled_from(["http", _MISSING, None, "", "https", "h\xe9", "\u0125", 5]),
    "raw_path": st.sampled_from(
        [b"/a/b", b"/", b"/a?b=1", b"/\xe9?", b"?x", _MISSING, None, b"", "/str"]
    ),
    "path": st.sampled_from([_MISSING, "/p q", ""]),
    "root_path": st.sampled_from([_MISSING, "", None, "/r"]),
    "query_string": st.sampled_from([_MISSING, None, b"", b"x=1&y", b"\xe9", "x=1"]),
    "server": st.sampled_from([_MISSING, ("127.0.0.1", 8000), ("h", 80)]),
}


@settings(max_examples=400)
@given(
    st.fixed_dictionaries(_scope_parts),
    st.sampled_from([None, "", "127.0.0.1:8000", "ex\xe4mple", "\u0125ost", "h:1"]),
)
def test_the_c_url_is_the_url_python_writes(parts: dict[str, object], host: str | None) -> None:
    from moesifapi.integrations import asgi

    url_of = getattr(_wire._speedups, "asgi_url", None)
    if url_of is None:
        pytest.skip("no C speed-up")
    scope = {key: value for key, value in parts.items() if value is not _MISSING}
    url = url_of(scope, host)
    event("written in C" if url is not None else "left to Python")
    if url is not None:
        assert url == asgi._url(scope, host)
        assert url.isascii() == all(ord(c) < 128 for c in url)  # a str in its narrowest form


_environ_parts = {
    "wsgi.url_scheme": st.sampled_from(["http", _MISSING, None, "", "https", "h\xe9", "\u0125"]),
    "HTTP_HOST": st.sampled_from(["h:1", "api.example.com", _MISSING, None, "", "ex\xe4m", 5]),
    "SERVER_NAME": st.sampled_from([_MISSING, "s"]),
    "SERVER_PORT": st.sampled_from([_MISSING, "80", "8080"]),
    "SCRIPT_NAME": st.sampled_from([_MISSING, "", None, "/app"]),
    "PATH_INFO": st.sampled_from(["/a/b", "/", "", _MISSING, "/a b", "/caf\xc3\xa9", "/~x_y.z-"]),
    "QUERY_STRING": st.sampled_from([_MISSING, "", None, "x=1&y", "\xe9", "q=\u0125"]),
}


@settings(max_examples=400)
@given(st.fixed_dictionaries(_environ_parts))
def test_the_c_wsgi_url_is_the_url_python_writes(parts: dict[str, object]) -> None:
    from moesifapi.integrations import wsgi

    url_of = getattr(_wire._speedups, "wsgi_url", None)
    if url_of is None:
        pytest.skip("no C speed-up")
    environ = {key: value for key, value in parts.items() if value is not _MISSING}
    url = url_of(environ)
    event("written in C" if url is not None else "left to Python")
    if url is not None:
        assert url == wsgi.request_url(environ)
        assert url.isascii() == all(ord(c) < 128 for c in url)


def test_the_c_url_writes_the_common_exchange() -> None:
    url_of = getattr(_wire._speedups, "asgi_url", None)
    if url_of is None:
        pytest.skip("no C speed-up")
    scope = {"scheme": "http", "raw_path": b"/items/1", "query_string": b"a=1", "root_path": ""}
    assert url_of(scope, "api.example.com") == "http://api.example.com/items/1?a=1"
    assert url_of({"raw_path": b"/"}, "h") == "http://h/"
    assert url_of(scope, None) is None  # no Host header: Python's, from `server`


@given(st.integers(min_value=0, max_value=2**130))
def test_the_c_transaction_id_is_the_uuid4_of_its_bits(bits: int) -> None:
    import uuid

    from moesifapi import models

    if models._uuid4_text is None:
        pytest.skip("no C speed-up")
    text = models._uuid4_text(bits)
    assert text == str(uuid.UUID(int=bits & models._UUID4_KEEP | models._UUID4_SET))
    assert uuid.UUID(text).version == 4


def test_environ_pairs_leave_what_pep_3333_does_not_allow_to_python() -> None:
    from moesifapi.integrations.wsgi import environ_pairs

    if environ_pairs is None:
        pytest.skip("no C speed-up")
    names: dict[object, object] = {"HTTP_ACCEPT": ("Accept", "accept", False), "CONTENT_TYPE": ()}
    assert environ_pairs({"HTTP_ACCEPT": "*/*"}, names, None) == ([("Accept", "*/*")], None)
    assert environ_pairs({"HTTP_ACCEPT": "*/*", 1: "x"}, names, None) is None  # a key not str
    assert environ_pairs({"HTTP_ACCEPT": "*/*", "CONTENT_TYPE": 0}, names, None) is None
    assert environ_pairs({"HTTP_ACCEPT": "*/*", "SERVER_NAME": "h"}, names, None) is None  # new
