"""The capture's own encoder: an exchange written as JSON with no model built.

With no hook that needs a model (`mask`, the client's `before_send`) the capture writes
each event straight from what it captured. These tests hold it to the model path,
which builds an `EventModel` and lets the queue encode it: over generated exchanges,
the same bytes, except that a JSON body with nothing to mask goes as it came (the same
JSON value, its own spelling). And where the encoder cannot write an event as it is,
the model path decides, with its errors.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moesifapi import AppConfig, EventModel, MoesifClient
from moesifapi._wire import encode_item
from moesifapi.integrations import CapturedRequest, CapturedResponse, CaptureSettings, Headers
from moesifapi.integrations import _capture as capture_module
from moesifapi.integrations._capture import Capture, plain_view
from moesifapi.testing import Collector

STARTED = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
ENDED = STARTED + timedelta(milliseconds=25)


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def client(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> Iterator[MoesifClient]:
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as made:
        monkeypatch.setattr(made, "_freshen", lambda: None)  # the config a test sets stays
        yield made


@pytest.fixture(params=["checked", "parsed"])
def json_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """JSON bodies checked as they are (the speed-up's `json_keys_check`) or parsed."""
    if request.param == "parsed":
        monkeypatch.setattr(capture_module, "_json_keys_check", None)
    elif capture_module._json_keys_check is None:
        pytest.skip("no json_check in this build")
    return str(request.param)


# --- generated exchanges ---

_private_keys = st.sampled_from(["password", "Api_Key", "accessToken", "cookie", "SECRET"])
_keys = st.one_of(st.text(max_size=8), _private_keys)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]]]:
    """A body and the headers that describe it."""
    kind = draw(st.sampled_from(["json", "pretty", "gzip", "text", "binary", "empty", "bad"]))
    value = draw(_json_values)
    if kind == "json":
        return orjson.dumps(value), [("Content-Type", "application/json")]
    if kind == "pretty":
        body = json.dumps(value, indent=2, ensure_ascii=draw(st.booleans())).encode()
        return body, [("content-type", "application/vnd.api+json; charset=utf-8")]
    if kind == "gzip":
        headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        return gzip.compress(orjson.dumps(value), mtime=0), headers
    if kind == "text":
        return draw(st.text(max_size=40)).encode(), [("Content-Type", "text/plain")]
    if kind == "binary":
        return draw(st.binary(max_size=40)), [("Content-Type", "application/octet-stream")]
    if kind == "bad":
        return orjson.dumps(value)[:-1] + b"]]", [("Content-Type", "application/json")]
    return b"", []


_header_names = st.sampled_from(
    ["Accept", "Authorization", "Cookie", "X-Session-Token", "x-tag", "X-Tag", "User-Agent"]
)
_headers = st.lists(st.tuples(_header_names, st.text(max_size=10)), max_size=5)
_ids = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8))


@st.composite
def _exchanges(draw: st.DrawFn) -> dict[str, Any]:
    request_body, request_type = draw(_bodies())
    response_body, response_type = draw(_bodies())
    path = draw(st.sampled_from(["/items", "/a/b", "/"]))
    query = draw(st.sampled_from(["", "?page=2", "?q=%C3%A9"]))
    request = CapturedRequest(
        method=draw(st.sampled_from(["GET", "POST", "DELETE"])),
        url=f"https://api.example.com{path}{query}",
        headers=Headers([*request_type, *draw(_headers)]),
        body=request_body,
        body_size=len(request_body),
        client_address=draw(st.sampled_from([None, "203.0.113.9", "::1"])),
    )
    response = CapturedResponse(
        status=draw(st.sampled_from([200, 201, 404, 500])),
        headers=Headers([*response_type, *draw(_headers)]),
        body=response_body,
        body_size=len(response_body),
    )
    if draw(st.integers(0, 9)) == 0:
        response = None  # no answer came (a network error on an outgoing call)
    return {
        "request": request,
        "response": response,
        "user_id": draw(_ids),
        "company_id": draw(_ids),
        "session_token": draw(_ids),
        "metadata": draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=5), _json_values))),
        "blocked_by": draw(st.one_of(st.none(), st.text(min_size=1, max_size=6))),
        "max_body_bytes": draw(st.sampled_from([100_000, 64])),
        "sampling": draw(st.booleans()),
        "direction": draw(st.sampled_from(["Incoming", "Outgoing"])),
    }


def _capture(client: MoesifClient, exchange: dict[str, Any]) -> Capture:
    def hook(name: str) -> Callable[[CapturedRequest, CapturedResponse | None], Any]:
        return lambda request, response: exchange[name]

    options = CaptureSettings(
        identify_user=hook("user_id"),
        identify_company=hook("company_id"),
        session_token=hook("session_token"),
        metadata=hook("metadata"),
        max_body_bytes=exchange["max_body_bytes"],
        sampling=exchange["sampling"],
        governance=False,
    )
    return Capture(client, options, exchange["direction"])


def _both_paths(capture: Capture, exchange: dict[str, Any]) -> tuple[bytes, bytes]:
    """(the encoder's bytes, the model path's bytes) for one exchange."""
    request, response = exchange["request"], exchange["response"]
    blocked_by = exchange["blocked_by"]
    found = capture.encoder(
        request, response, STARTED, ENDED, transaction_id="tid-1", blocked_by=blocked_by
    )
    assert isinstance(found, tuple)
    build, weigh = found
    weight = None if weigh is None else weigh()
    event = capture.event(
        request, response, STARTED, ENDED, transaction_id="tid-1", blocked_by=blocked_by
    )
    assert isinstance(event, EventModel)
    if weight is not None:
        event.weight = weight
    return build(weight), encode_item(event)


def _spelled_canonically(body: bytes) -> bool:
    try:
        return orjson.dumps(orjson.loads(body)) == body
    except orjson.JSONDecodeError:
        return True  # not JSON: it goes as text or a marker, never as it came


@pytest.mark.usefixtures("json_reader")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(exchange=_exchanges(), rate=st.sampled_from([None, 100, 50, 1]))
def test_the_encoder_writes_what_the_model_path_writes(
    client: MoesifClient, exchange: dict[str, Any], rate: int | None
) -> None:
    client._steering.config = AppConfig(sample_rate=rate)
    client._steering.rand = lambda: 0.0  # kept, whatever the rate: the weight shows it
    capture = _capture(client, exchange)
    fast, model = _both_paths(capture, exchange)
    assert orjson.loads(fast) == orjson.loads(model)
    bodies = [exchange["request"].body]
    if exchange["response"] is not None:
        bodies.append(exchange["response"].body)
    if all(_spelled_canonically(body) for body in bodies):
        assert fast == model


def _json_post(body: bytes, *headers: tuple[str, str]) -> CapturedRequest:
    """A POST of the JSON `body` to https://api.example.com/login, with `headers` too."""
    return CapturedRequest(
        method="POST",
        url="https://api.example.com/login",
        headers=Headers([("Content-Type", "application/json"), *headers]),
        body=body,
        body_size=len(body),
    )


def test_a_json_body_with_nothing_to_mask_goes_as_it_came(
    client: MoesifClient, collector: Collector, json_reader: str
) -> None:
    body = b'{"items": [1, 2.50, {"name": "caf\\u00e9"}]}'
    request = CapturedRequest(
        method="POST",
        url="https://api.example.com/items",
        headers=Headers([("Content-Type", "application/json")]),
        body=body,
        body_size=len(body),
    )
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    found = capture.encoder(request, None, STARTED, ENDED, transaction_id="t")
    assert isinstance(found, tuple)
    encoded = found[0](None)
    if json_reader == "checked":
        assert body in encoded  # its own spelling: nothing parsed and written again
    else:
        assert b'"items":[1,2.5,{"name":"caf\xc3\xa9"}]' in encoded
    assert capture.record(request, None, STARTED, ENDED, transaction_id="t")
    client.flush()
    assert collector.events[0]["request"]["body"] == {"items": [1, 2.5, {"name": "café"}]}


def test_private_fields_are_masked_whichever_reader(
    client: MoesifClient, collector: Collector, json_reader: str
) -> None:
    body = b'{"user": "ann", "auth": {"Password": "pw", "list": [{"api_key": "k"}]}}'
    request = _json_post(body, ("Authorization", "Bearer x"))
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    assert capture.record(request, None, STARTED, ENDED, transaction_id="t")
    client.flush()
    sent = collector.events[0]["request"]
    assert sent["body"] == {
        "user": "ann",
        "auth": {"Password": "***", "list": [{"api_key": "***"}]},
    }
    assert sent["headers"]["Authorization"] == "***"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a": 1, "\\u0074oken": "t"}', "token"),  # an escape spells a letter
        (b'{"a": 1, "pass\\u0077ord": "p"}', "password"),
        ('{"a": 1, "to\u212aen": "t"}'.encode(), "to\u212aen"),  # KELVIN SIGN lowers to k
    ],
    ids=["escaped-start", "escaped-inside", "kelvin-sign"],
)
def test_a_private_key_spelled_another_way_is_masked_whichever_reader(
    client: MoesifClient, collector: Collector, json_reader: str, body: bytes, key: str
) -> None:
    # Found by review: the text search that lets a body go as it came looked for the
    # private words in the raw bytes, where an escaped or non-ASCII spelling hid them.
    request = _json_post(body)
    capture = Capture(client, CaptureSettings(sampling=False, governance=False))
    assert capture.record(request, None, STARTED, ENDED, transaction_id="t")
    client.flush()
    assert collector.events[0]["request"]["body"] == {"a": 1, key: "***"}


def _a_request() -> CapturedRequest:
    return CapturedRequest(
        method="GET", url="https://api.example.com/", headers=Headers([("Accept", "*/*")])
    )


def test_with_before_send_the_capture_builds_models(
    collector: Collector,
) -> None:
    seen: list[object] = []

    def before_send(event: EventModel) -> EventModel:
        seen.append(event)
        return event

    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=http,
        before_send=before_send,
    ) as client:
        capture = Capture(client, CaptureSettings(sampling=False, governance=False))
        assert capture.record(_a_request(), None, STARTED, ENDED, transaction_id="t")
    assert [type(event) for event in seen] == [EventModel]
    assert len(collector.events) == 1


def test_metadata_the_encoder_cannot_write_gets_the_model_paths_error(
    client: MoesifClient, caplog: pytest.LogCaptureFixture
) -> None:
    capture = Capture(
        client,
        CaptureSettings(metadata=lambda request, response: {"n": float("nan")}, sampling=False),
    )
    with caplog.at_level(logging.ERROR, logger="moesifapi"):
        assert not capture.record(_a_request(), None, STARTED, ENDED, transaction_id="t")
    assert "could not capture GET https://api.example.com/" in caplog.text
    assert "metadata" in caplog.text
    assert client.stats.queued == 0


def test_a_full_queue_hands_on_error_the_event_as_a_model(collector: Collector) -> None:
    failed: list[tuple[Exception, list[object]]] = []
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=http,
        max_queue_size=1,
        flush_interval=60,
        on_error=lambda error, items: failed.append((error, items)),
    ) as client:
        capture = Capture(client, CaptureSettings(sampling=False, governance=False))
        assert capture.record(_a_request(), None, STARTED, ENDED, transaction_id="first")
        assert not capture.record(_a_request(), None, STARTED, ENDED, transaction_id="second")
        assert client.stats.dropped == 1
    [(error, items)] = failed
    assert type(error).__name__ == "QueueFullError"
    [event] = items
    assert isinstance(event, EventModel)
    assert event.transaction_id == "second"
    assert event.request.uri == "https://api.example.com/"


def test_a_private_name_outside_ascii_is_masked_in_any_case(
    client: MoesifClient, collector: Collector
) -> None:
    body = '{"CLÉ": "s", "other": 1}'.encode()
    request = CapturedRequest(
        method="POST",
        url="https://api.example.com/",
        headers=Headers([("Content-Type", "application/json")]),
        body=body,
        body_size=len(body),
    )
    settings_ = CaptureSettings(private_body_fields=["clé"], sampling=False, governance=False)
    assert Capture(client, settings_).record(request, None, STARTED, ENDED, transaction_id="t")
    client.flush()
    assert collector.events[0]["request"]["body"] == {"CLÉ": "***", "other": 1}


# --- the plain path: no hook, so the adapters hand over what they saw as it is ---


def _plain_capture(client: MoesifClient, exchange: dict[str, Any]) -> Capture:
    options = CaptureSettings(
        max_body_bytes=exchange["max_body_bytes"],
        sampling=exchange["sampling"],
        governance=False,
        private_headers=exchange["private_headers"],
        size_only_media_types=exchange["size_only"],
    )
    capture = Capture(client, options, exchange["direction"])
    assert capture.plain
    return capture


def _raw(headers: Headers, as_bytes: bool) -> list[tuple[Any, Any]]:
    # Each value as its own pair again, so that repeated names come in repeated.
    pairs: list[tuple[Any, Any]] = []
    for name, joined in headers.items():
        for value in joined.split(", ") if joined else [joined]:
            pairs.append((name.encode(), value.encode()) if as_bytes else (name, value))
    return pairs


def _plain_and_model(
    capture: Capture, exchange: dict[str, Any], as_bytes: bool, as_given: bool = False
) -> tuple[bytes, bytes]:
    """(`record_plain`'s bytes, the model path's bytes) for one exchange whose headers
    come as ASGI's byte pairs (`as_bytes`) or as WSGI's str pairs, handed over as they
    are (`as_given`) or as `PlainHeaders`."""
    request, response = exchange["request"], exchange["response"]
    read = capture.plain_headers if as_bytes else capture.plain_str_headers
    if as_given:
        read = list
    view = Headers.from_raw if as_bytes else Headers
    request_pairs = _raw(request.headers, as_bytes)
    response_pairs = None if response is None else _raw(response.headers, as_bytes)
    built: list[bytes] = []

    def queue_encoded(encoded: bytes) -> bool:
        built.append(encoded)
        return True

    capture.client._queue_encoded = queue_encoded  # type: ignore[method-assign]
    queued = capture.record_plain(
        request.method,
        request.url,
        request.client_address,
        read(request_pairs),
        request.body,
        request.body_size,
        None if response is None else response.status,
        None if response_pairs is None else read(response_pairs),
        b"" if response is None else response.body,
        0 if response is None else response.body_size,
        STARTED,
        ENDED,
        "tid-1",
        exchange["blocked_by"],
    )
    assert queued is True
    request_view = attrs.evolve(request, headers=view(request_pairs))
    response_view = (
        None if response is None else attrs.evolve(response, headers=view(response_pairs))
    )
    event = capture.event(
        request_view,
        response_view,
        STARTED,
        ENDED,
        transaction_id="tid-1",
        blocked_by=exchange["blocked_by"],
    )
    assert isinstance(event, EventModel)
    weight = orjson.loads(built[0]).get("weight")
    if weight is not None:
        event.weight = weight
    return built[0], encode_item(event)


@pytest.mark.usefixtures("json_reader")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    exchange=_exchanges(),
    rate=st.sampled_from([None, 100, 50, 1]),
    as_bytes=st.booleans(),
    private_headers=st.sampled_from([[], ["x-tag"], ["Accept", "content-type"]]),
    size_only=st.sampled_from([[], ["text/plain"], ["application/json", ""]]),
)
def test_the_plain_path_writes_what_the_model_path_writes(
    client: MoesifClient,
    exchange: dict[str, Any],
    rate: int | None,
    as_bytes: bool,
    private_headers: list[str],
    size_only: list[str],
) -> None:
    client._steering.config = AppConfig(sample_rate=rate)
    client._steering.rand = lambda: 0.0  # kept, whatever the rate: the weight shows it
    exchange.update(private_headers=private_headers, size_only=size_only)
    capture = _plain_capture(client, exchange)
    # The second time from what the capture remembered (the C writer's first chance).
    for as_given in (True, True, False):
        plain, model = _plain_and_model(capture, exchange, as_bytes, as_given)
        assert orjson.loads(plain) == orjson.loads(model)
        bodies = [exchange["request"].body]
        if exchange["response"] is not None:
            bodies.append(exchange["response"].body)
        if all(_spelled_canonically(body) for body in bodies):
            assert plain == model


_environ_keys = st.sampled_from(
    [
        "HTTP_ACCEPT",
        "HTTP_X_TAG",
        "HTTP_x_tag",
        "HTTP_AUTHORIZATION",
        "HTTP_CONTENT_TYPE",
        "HTTP_CONTENT_LENGTH",
        "HTTP_content_type",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "wsgi.url_scheme",
    ]
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    environ=st.dictionaries(
        _environ_keys, st.one_of(st.text(max_size=6), st.integers(), st.just(""))
    ),
    private_headers=st.sampled_from([[], ["x-tag"], ["content-type"]]),
)
def test_plain_request_headers_read_the_environ_as_request_headers_does(
    client: MoesifClient, environ: dict[str, Any], private_headers: list[str]
) -> None:
    from moesifapi.integrations.wsgi import plain_request_headers, request_headers

    capture = Capture(
        client,
        CaptureSettings(private_headers=private_headers, sampling=False, governance=False),
    )
    names: dict[str, Any] = {}
    expected = request_headers(environ)
    for _ in range(2):  # the second time from what `names` remembered
        values, shown = plain_request_headers(capture, names, environ)
        assert shown == capture._headers(expected)
        assert values == {key: value for key, (_, value) in expected._by_lower.items()}
        assert plain_view((values, shown))._by_lower == expected._by_lower
        # The C speed-up's pairs of the same environ read as the same headers.
        from moesifapi.integrations.wsgi import environ_pairs

        if environ_pairs is not None:
            found = environ_pairs(environ, names, "x-tag")
            if found is not None:  # None: a text-like value that is not a str
                pairs, given = found
                assert capture.as_plain(pairs) == (values, shown)
                assert given == values.get("x-tag")


@pytest.mark.parametrize(("rate", "weight"), [(None, 1), (100, 1), (50, 2)])
def test_a_plain_capture_carries_the_weight_its_sample_rate_gives(
    client: MoesifClient, collector: Collector, rate: int | None, weight: int
) -> None:
    client._steering.config = AppConfig(sample_rate=rate)
    client._steering.rand = lambda: 0.0  # kept, whatever the rate
    capture = Capture(client, CaptureSettings(governance=False))
    assert capture.plain
    headers = capture.plain_headers([(b"accept", b"*/*")])
    queued = capture.record_plain(
        "GET", "https://api.example.com/", None, headers, b"", 0,
        200, capture.plain_headers([]), b"", 0, STARTED, ENDED, "tid-1", None,
    )  # fmt: skip
    assert queued is True
    client.flush()
    [event] = collector.events
    assert event["weight"] == weight
