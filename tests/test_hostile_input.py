"""Hostile input: values nested past the depth limit, circular, huge, or with a tzinfo
that fails, given to every write model, write method and queue method.

Nothing but `ValidationError` comes out (naming the path), on both JSON paths, and
nothing reaches the collector. The relay answers 400 for such a payload.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AsyncMoesifClient,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifClient,
    SpanModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    _wire,
    to_json,
)
from moesifapi._constants import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS
from moesifapi.testing import Collector

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- hostile values ---


def nested(depth: int, kind: str = "dict") -> object:
    """`depth` arrays or objects, one inside the other (built without recursion)."""
    value: object = "leaf"
    for level in range(depth):
        value = {"a": value} if kind == "dict" or (kind == "mixed" and level % 2) else [value]
    return value


def circular(kind: str) -> object:
    if kind == "dict":
        loop: dict[str, object] = {"ok": 1}
        loop["self"] = loop
        return loop
    if kind == "list":
        items: list[object] = [1]
        items.append(items)
        return items
    outer: dict[str, object] = {"inner": {"list": []}}
    outer["inner"]["list"].append(outer)  # type: ignore[index]
    return outer


class _ThirtyHours(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=30)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


class _Raising(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("tzinfo broke")

    def dst(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("tzinfo broke")

    def tzname(self, dt: datetime | None) -> str:
        raise RuntimeError("tzinfo broke")


BAD_TZINFOS = [_ThirtyHours(), _Raising()]

HUGE: list[object] = [
    Decimal("1e1000000"),
    Decimal("-9e999999999"),
    Decimal("1" * 310 + ".5"),  # past a float's range
    Decimal(f"1e{MAX_JSON_INT_DIGITS}"),
    10**MAX_JSON_INT_DIGITS,
    -(10**5000),
]

hostile_values = st.one_of(
    st.builds(
        nested,
        st.integers(MAX_JSON_DEPTH, 3 * sys.getrecursionlimit()),
        st.sampled_from(["dict", "list", "mixed"]),
    ),
    st.sampled_from(["dict", "list", "nested"]).map(circular),
    st.sampled_from(HUGE),
    st.sampled_from(BAD_TZINFOS).map(lambda tz: datetime(2024, 5, 1, tzinfo=tz)),
    st.just({"\ud800": 1}),
)
# Where in a field the hostile value sits: alone, or beside ordinary values.
placed = st.tuples(hostile_values, st.sampled_from(["direct", "beside", "in-list"])).map(
    lambda pair: {
        "direct": {"x": pair[0]},
        "beside": {"ok": [1, "two", None], "deeper": {"x": pair[0]}},
        "in-list": {"items": [{"n": 1}, pair[0]]},
    }[pair[1]]
)


# --- every write model, with the hostile value in each of its JSON fields ---


def _request(body: object = None) -> EventRequestModel:
    return EventRequestModel(time=WHEN, uri="https://x.test/a", verb="POST", headers={}, body=body)


def _response(body: object = None) -> EventResponseModel:
    return EventResponseModel(time=WHEN, status=200, headers={}, body=body)


Builder = Callable[[Any], Any]
BUILDERS: dict[str, Builder] = {
    "event.metadata": lambda v: EventModel(request=_request(), response=_response(), metadata=v),
    "event.request.body": lambda v: EventModel(request=_request(v)),
    "event.response.body": lambda v: EventModel(request=_request(), response=_response(v)),
    "event.span.links": lambda v: EventModel(request=_request(), span=SpanModel(links=[v])),
    "user.metadata": lambda v: UserModel(user_id="u", metadata=v),
    "company.metadata": lambda v: CompanyModel(company_id="c", metadata=v),
    "action.metadata": lambda v: ActionModel(
        action_name="a", request=ActionRequestModel(uri="https://x.test"), metadata=v
    ),
    "subscription.metadata": lambda v: SubscriptionModel(
        subscription_id="s", company_id="c", metadata=v
    ),
}
# The method of each model kind: (single, batch, queue one, queue many).
METHODS: dict[str, tuple[str, str, str, str]] = {
    "event": ("create_event", "create_events_batch", "queue_event", "queue_events"),
    "user": ("update_user", "update_users_batch", "queue_user", "queue_users"),
    "company": ("update_company", "update_companies_batch", "queue_company", "queue_companies"),
    "action": ("create_action", "create_actions_batch", "queue_action", "queue_actions"),
    "subscription": (
        "update_subscription",
        "update_subscriptions_batch",
        "queue_subscription",
        "queue_subscriptions",
    ),
}
GOOD: dict[str, Callable[[], Any]] = {
    "event": lambda: EventModel(request=_request({"fine": True})),
    "user": lambda: UserModel(user_id="fine"),
    "company": lambda: CompanyModel(company_id="fine"),
    "action": lambda: ActionModel(action_name="fine", request=ActionRequestModel(uri="https://x")),
    "subscription": lambda: SubscriptionModel(subscription_id="fine", company_id="c"),
}


def build(where: str, value: object) -> Any | None:
    """The model, or None when its constructor already refused the value (as it may)."""
    try:
        return BUILDERS[where](value)
    except ValidationError:
        return None


@contextmanager
def json_path(name: str) -> Iterator[None]:
    """Encode with orjson (when the fast path is on) or with the standard library."""
    dumps = {"fast": _wire._dumps_fast, "std": _wire._dumps_std}[name]
    if name == "fast" and not _wire.FAST_JSON:
        pytest.skip("orjson is not installed, or does not agree with the reference")
    with mock.patch.object(_wire, "_dumps", dumps):
        yield


# --- the limits themselves ---


def test_the_depth_limit_is_well_under_the_recursion_limit() -> None:
    assert 10 <= MAX_JSON_DEPTH <= sys.getrecursionlimit() // 4


@pytest.mark.parametrize("path", ["fast", "std"])
def test_the_depth_limit_is_exact_on_both_paths(path: str) -> None:
    # A user's object is depth 1, its metadata 2: MAX_JSON_DEPTH - 2 more fit.
    fits = UserModel(user_id="u", metadata={"a": nested(MAX_JSON_DEPTH - 2)})
    too_deep = UserModel(user_id="u", metadata={"a": nested(MAX_JSON_DEPTH - 1)})
    with json_path(path):
        assert to_json(fits).count(b"{") == MAX_JSON_DEPTH
        with pytest.raises(ValidationError, match="more than 100 deep") as caught:
            to_json(too_deep)
        assert caught.value.field is not None
        assert caught.value.field.startswith("metadata.a.a.a")
        with pytest.raises(ValidationError) as in_batch:
            to_json([UserModel(user_id="ok"), too_deep])
        assert in_batch.value.field is not None
        assert in_batch.value.field.startswith("[1].metadata.a")


@pytest.mark.parametrize("path", ["fast", "std"])
def test_a_circular_value_is_named(path: str) -> None:
    with json_path(path), pytest.raises(ValidationError, match="circular") as caught:
        to_json(UserModel(user_id="u", metadata={"loop": circular("nested")}))
    assert caught.value.field == "metadata.loop.inner.list[0]"


@pytest.mark.parametrize("path", ["fast", "std"])
@pytest.mark.parametrize(
    "value",
    HUGE,
    ids=lambda v: f"{type(v).__name__}-{len(str(v)) if isinstance(v, Decimal) else v.bit_length()}",
)
def test_a_huge_number_is_refused_quickly(path: str, value: object) -> None:
    started = time.perf_counter()
    with json_path(path), pytest.raises(ValidationError) as caught:
        to_json(UserModel(user_id="u", metadata={"n": value}))
    assert time.perf_counter() - started < 0.5
    assert caught.value.field == "metadata.n"


@pytest.mark.parametrize("path", ["fast", "std"])
def test_numbers_inside_the_limits_still_go_out(path: str) -> None:
    with json_path(path):
        out = to_json(
            UserModel(
                user_id="u",
                metadata={"big": 2**64, "d": Decimal("1e20"), "f": Decimal("2.5e-300")},
            )
        )
    assert b'"big":18446744073709551616' in out
    assert b'"d":100000000000000000000' in out
    assert b'"f":2.5e-300' in out


@pytest.mark.parametrize("tz", BAD_TZINFOS, ids=lambda tz: type(tz).__name__)
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda t: EventRequestModel(time=t, uri="u", verb="GET", headers={}), "time"),
        (lambda t: EventResponseModel(time=t, status=200, headers={}), "time"),
        (lambda t: UserModel(user_id="u", modified_time=t), "modified_time"),
        (lambda t: CompanyModel(company_id="c", modified_time=t), "modified_time"),
        (lambda t: ActionRequestModel(uri="u", time=t), "time"),
        (
            lambda t: SubscriptionModel(
                subscription_id="s", company_id="c", current_period_start=t
            ),
            "current_period_start",
        ),
        (
            lambda t: SubscriptionModel(subscription_id="s", company_id="c", current_period_end=t),
            "current_period_end",
        ),
    ],
)
def test_a_failing_tzinfo_on_a_timestamp_field_is_a_validation_error(
    tz: tzinfo, make: Callable[[datetime], object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(datetime(2024, 5, 1, 12, 0, tzinfo=tz))
    assert caught.value.field == field


def test_a_lone_surrogate_in_a_metadata_key_names_the_key() -> None:
    for path in ("fast", "std"):
        with json_path(path), pytest.raises(ValidationError) as caught:
            to_json(UserModel(user_id="u", metadata={"ok": {"bad\ud800": 1}}))
        assert caught.value.field == "metadata.ok.bad\ud800"


def test_a_very_long_path_is_cut_short() -> None:
    deep = {"k" * 50: nested(500)}
    with pytest.raises(ValidationError) as caught:
        to_json(UserModel(user_id="u", metadata=deep))
    assert caught.value.field is not None
    assert len(caught.value.field) < 300
    assert caught.value.field.endswith("...")


# --- hypothesis: every model, both paths ---


@FAST
@given(where=st.sampled_from(sorted(BUILDERS)), value=placed, path=st.sampled_from(["fast", "std"]))
def test_hostile_values_in_every_model_give_only_validation_errors(
    where: str, value: object, path: str
) -> None:
    model = build(where, value)
    if model is None:
        return
    if path == "fast" and not _wire.FAST_JSON:
        path = "std"
    with json_path(path):
        with pytest.raises(ValidationError) as caught:
            to_json(model)
        assert caught.value.field is not None
        with pytest.raises(ValidationError) as in_batch:
            to_json([GOOD[where.split(".")[0]](), model])
        assert in_batch.value.field is not None
        assert in_batch.value.field.startswith("[1]")


# --- hypothesis: every write and queue method; nothing sent ---


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Collector, MoesifClient]]:
    collector = Collector()
    http = httpx.Client(transport=collector.transport())
    client = MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=http,
        max_retries=0,
    )
    yield collector, client
    client.close()
    http.close()


@FAST
@given(where=st.sampled_from(sorted(BUILDERS)), value=placed)
def test_hostile_values_in_every_write_and_queue_method_send_nothing(
    sandbox: tuple[Collector, MoesifClient], where: str, value: object
) -> None:
    collector, client = sandbox
    model = build(where, value)
    if model is None:
        return
    single, batch, queue_one, queue_many = METHODS[where.split(".")[0]]
    good = GOOD[where.split(".")[0]]()
    for method, argument in [
        (single, model),
        (batch, [good, model]),
        (queue_one, model),
        (queue_many, [good, model]),
    ]:
        with pytest.raises(ValidationError) as caught:
            getattr(client, method)(argument)
        assert caught.value.field is not None, method
    assert client.flush(timeout=5)
    assert collector.requests == []


def test_hostile_values_in_the_async_client_send_nothing() -> None:
    collector = Collector()

    async def run() -> None:
        http = httpx.AsyncClient(transport=collector.async_transport())
        client = AsyncMoesifClient(
            application_id=collector.application_id, base_url=collector.base_url, http_client=http
        )
        try:
            for where in sorted(BUILDERS):
                single, batch, queue_one, queue_many = METHODS[where.split(".")[0]]
                for value in (nested(5000), circular("dict"), Decimal("1e1000000")):
                    model = BUILDERS[where]({"x": value})
                    for method in (single, batch):
                        with pytest.raises(ValidationError):
                            await getattr(client, method)(model if method == single else [model])
                    with pytest.raises(ValidationError):
                        getattr(client, queue_one)(model)
                    with pytest.raises(ValidationError):
                        getattr(client, queue_many)([model])
            assert await client.flush(timeout=5)
        finally:
            await client.aclose()
            await http.aclose()

    asyncio.run(run())
    assert collector.requests == []


# --- the relay: 400, nothing queued ---


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000])
def test_the_relay_answers_400_for_traits_nested_too_deep(depth: int) -> None:
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    from moesifapi.segment import relay_app

    collector = Collector()
    http = httpx.Client(transport=collector.transport())
    with MoesifClient(
        application_id=collector.application_id, base_url=collector.base_url, http_client=http
    ) as client:
        relay = relay_app(client)
        traits = '{"a":' * depth + '"leaf"' + "}" * depth  # json.dumps would recurse
        body = (
            '{"type": "identify", "messageId": "m-1", "userId": "u", "traits": ' + traits + "}"
        ).encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
        }
        setup_testing_defaults(environ)
        statuses: list[str] = []
        chunks = relay(environ, lambda status, headers, exc_info=None: statuses.append(status))
        answer = json.loads(b"".join(chunks))
        # Past what json reads: 400. Read, then refused by the encoder: the message is
        # skipped as invalid (one bad message never holds back a batch), answered 200,
        # so Segment does not retry it either. Never a 500.
        if statuses[0].startswith("400"):
            assert answer["success"] is False
        else:
            assert statuses[0].startswith("200"), answer
            assert answer["users"] == 0
            assert answer["not_queued"] == 0
            (skipped,) = answer["skipped"]
            assert skipped["reason"] == "invalid_message"
            assert "more than 100 deep" in skipped["detail"]
            assert "traits" in skipped["detail"] or "metadata" in skipped["detail"]
        assert client.flush(timeout=5)
    http.close()
    assert collector.requests == []
