"""Property: a wire-format dict gives the same bytes, or the same error, on both paths.

`_wire.encode_input` / `encode_inputs` check a plain dict against the model's fields
without building the model; the model path (`coerce`, `encode_item`, `coerce_all`,
`encode_many`) builds it. The same generated input, valid or not (missing and unknown
keys, wrong types, odd timestamps, hostile metadata, bytes bodies, ...), goes to both:
the bodies must be byte-identical (a generated `transaction_id` compared as a UUID4 in
the same place) and an error the same type, message and field.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import math
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moesifapi import (
    ActionModel,
    CompanyModel,
    EventModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    _wire,
)
from moesifapi._json_limits import MAX_JSON_DEPTH

# Each property runs on both JSON paths; CI's `slow` step (pytest -m slow) runs the
# batch property again with more examples.
EXAMPLES = settings(max_examples=60, deadline=None)
BATCH_EXAMPLES = settings(max_examples=40, deadline=None)


class Color(Enum):
    RED = "red"


class Text(str):
    """A `str` subclass: the model path takes it, the fast one leaves it to the model."""


# --- values: mostly valid, with the invalid and the unusual mixed in ---

text = st.text(max_size=10)
ids = st.text(min_size=1, max_size=10).filter(str.strip)
wrong = (
    st.none()
    | st.integers(-3, 3)
    | st.booleans()
    | st.floats(allow_nan=True)
    | st.just("")
    | st.just("  ")
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(text, text, max_size=2)
    | st.just(b"raw")
    | st.builds(Text, text)
)
millis = st.integers(0, 999).map(lambda ms: f".{ms:03d}Z")
api_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda value: value.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
)
times = (
    # the API's own form, over a few seconds (so the cache of seconds is hit) and any
    st.builds(lambda second, ms: f"2024-05-01T12:00:0{second}{ms}", st.integers(0, 3), millis)
    | st.builds(lambda prefix, ms: prefix + ms, api_times, millis)
    | st.sampled_from(
        [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.123456Z",
            "2024-05-01T12:00:00.123z",
            "2024-05-01T12:00:00.123+02:00",
            "2024-05-01T12:00:00.123",
            "2024-05-01T24:00:00.000Z",
            "2024-02-30T12:00:00.000Z",
            "2024-05-01T12:00:60.000Z",
            "2024-05-01T12:00:00.12٣Z",
            "20240501T120000Z",
            "2024-05-01",
            "0001-01-01T00:00:00.000+05:00",
            "not a time",
            "",
        ]
    )
    | st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.none() | st.just(timezone.utc) | st.just(timezone(timedelta(hours=-3))),
    )
    | st.just(date(2024, 5, 1))
    | st.integers(0, 2)
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
odd_scalars = st.sampled_from(
    [
        Decimal("12.50"),
        Decimal("42.00"),
        Decimal("NaN"),
        Decimal("1e5000"),
        uuid.UUID(int=7),
        Color.RED,
        datetime(2024, 5, 1, 12, 0, 0, 123456),
        date(2024, 5, 1),
        {1, 2},
        b"\x00",
        2**70,
        math.inf,
        "\ud800",
        Text("sub"),
    ]
)
# Integers of 4,300 digits (the most allowed) and 4,301.
huge = st.sampled_from([4299, 4300]).map(lambda power: 10**power)
json_values = st.recursive(
    scalars | odd_scalars | huge,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(text | st.integers(0, 2) | st.none(), inner, max_size=3)
        | st.dictionaries(text, inner, max_size=2).map(MappingProxyType)
    ),
    max_leaves=8,
)


def nested(depth: int) -> object:
    """Arrays inside one another, `depth` of them."""
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


deep = st.sampled_from([MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 1, 300]).map(
    nested
)
good_times = st.builds(
    lambda second, ms: f"2024-05-01T12:00:0{second}{ms}", st.integers(0, 3), millis
) | st.builds(lambda prefix, ms: prefix + ms, api_times, millis)
plain_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
metadata = (
    st.none()
    | st.dictionaries(text, json_values, max_size=4)
    | st.dictionaries(text, deep, min_size=1, max_size=1)
    | st.dictionaries(st.integers(0, 2), text, min_size=1, max_size=2)
    | wrong
)
good_metadata = st.dictionaries(text, plain_json, max_size=4) | st.dictionaries(
    text, json_values, max_size=2
)
headers = (
    st.dictionaries(text, text, max_size=4)
    | st.dictionaries(text, text | st.lists(text, max_size=2), max_size=3)
    | st.dictionaries(text | st.integers(0, 2), text | st.integers(0, 2), max_size=3)
    | st.dictionaries(text, text, max_size=2).map(MappingProxyType)
    | wrong
)
good_headers = st.dictionaries(text, text, max_size=4)


def make_kinds(mixed: bool) -> dict[type, st.SearchStrategy[dict[str, Any]]]:
    """Wire dicts for each model class: `mixed`, any value and key, valid or not,
    ordinary or odd; else valid dicts (whose metadata may still fail to encode)."""

    def field(
        values: st.SearchStrategy[Any], weight: int = 6, good: st.SearchStrategy[Any] | None = None
    ) -> st.SearchStrategy[Any]:
        """Mostly `values`, sometimes a wrong value; when not `mixed`, `good` values."""
        if not mixed:
            return values if good is None else good
        return st.one_of(*([values] * weight), wrong)

    @st.composite
    def wire_dict(
        draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]], required: set[str]
    ) -> dict[str, Any]:
        """A dict of some of `fields` (the required ones usually there), in any
        order, sometimes with an unknown key."""
        out: dict[str, Any] = {}
        for name in draw(st.permutations(sorted(fields))):
            if name in required:
                keep = not mixed or draw(st.integers(0, 19)) > 0
            else:
                keep = draw(st.booleans())
            if keep:
                out[name] = draw(fields[name])
        if mixed and draw(st.integers(0, 9)) == 0:
            unknown = draw(st.sampled_from(["usr_id", "extra", "parent_span_id", "Time"]))
            out[unknown] = draw(text)
        return out

    @st.composite
    def bodies(draw: st.DrawFn) -> dict[str, Any]:
        kinds = ["json", "json", "none", "bytes", "base64", "bad-base64"]
        kind = draw(st.sampled_from(kinds if mixed else ["json", "json", "none", "bytes"]))
        if kind == "bytes":
            return {"body": draw(st.binary(max_size=8))}
        if kind == "base64":
            return {
                "body": base64.b64encode(draw(st.binary(max_size=8))).decode(),
                "transfer_encoding": "base64",
            }
        if kind == "bad-base64":
            body = draw(st.sampled_from(["QQ", "QR==", "!!", 5]))
            return {"body": body, "transfer_encoding": "base64"}
        if kind == "none":
            return {}
        out = {"body": draw(json_values if mixed else plain_json)}
        if draw(st.booleans()):
            out["transfer_encoding"] = draw(field(st.sampled_from(["", "json", None])))
        return out

    def half(extra: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
        common = {
            "time": field(times, 12, good_times),
            "headers": field(headers, 12, good_headers),
            "ip_address": field(text),
            "content_length": field(st.integers(-1, 10**6), good=st.integers(0, 10**6)),
        }
        required = {"time", "headers", *[key for key in extra if key != "api_version"]}
        return st.builds(
            lambda fields, body: {**fields, **body},
            wire_dict({**common, **extra}, required),
            bodies(),
        )

    requests = half({"uri": field(ids), "verb": field(ids), "api_version": field(text)})
    responses = half(
        {"status": field(st.integers(99, 600) | st.just(200), 8, st.integers(100, 599))}
    )
    links = st.lists(text | st.dictionaries(text, text), max_size=2)
    spans = wire_dict(
        {
            "id": field(text),
            "parent_id": field(text),
            "links": field(
                st.lists(text | st.dictionaries(text | st.integers(0, 1), text), max_size=2),
                good=links,
            ),
            "status": field(st.integers()),
        },
        set(),
    )
    directions = st.sampled_from(["Incoming", "Outgoing", "Internal"])
    events = wire_dict(
        {
            "request": field(requests, 20),
            "response": field(responses, 10),
            "user_id": field(text),
            "company_id": field(text),
            "session_token": field(text),
            "transaction_id": field(ids),
            "subscription_id": field(text),
            "action_name": field(text),
            "trace_id": field(text),
            "span": field(spans),
            "direction": field(directions | st.just("incoming"), good=directions),
            "weight": field(st.integers(-1, 100), good=st.integers(0, 100)),
            "metadata": field(metadata, good=good_metadata),
            "tags": field(text),
            "blocked_by": field(text),
        },
        {"request"},
    )
    campaigns = wire_dict(
        {"utm_source": field(text), "referrer": field(text), "gclid": field(text)}, set()
    )
    users = wire_dict(
        {
            "user_id": field(ids),
            "company_id": field(text),
            "modified_time": field(times, good=good_times),
            "session_token": field(text),
            "campaign": field(campaigns),
            "metadata": field(metadata, good=good_metadata),
        },
        {"user_id"},
    )
    companies = wire_dict(
        {
            "company_id": field(ids),
            "company_domain": field(text),
            "modified_time": field(times, good=good_times),
            "campaign": field(campaigns),
            "metadata": field(metadata, good=good_metadata),
        },
        {"company_id"},
    )
    action_requests = wire_dict(
        {
            "uri": field(ids),
            "time": field(times, good=good_times),
            "user_agent_string": field(text),
        },
        {"uri"},
    )
    actions = wire_dict(
        {
            "action_name": field(ids),
            "request": field(action_requests, 12),
            "transaction_id": field(ids),
            "user_id": field(text),
            "metadata": field(metadata, good=good_metadata),
        },
        {"action_name", "request"},
    )
    items = wire_dict(
        {
            "plan_id": field(ids),
            "price_id": field(text),
            "created_at": field(times, good=good_times),
            "metadata": field(metadata, good=good_metadata),
        },
        {"plan_id"},
    )
    subscriptions = wire_dict(
        {
            "subscription_id": field(ids),
            "company_id": field(ids),
            "status": field(text),
            "current_period_start": field(times, good=good_times),
            "current_period_end": field(times, good=good_times),
            "items": field(st.lists(field(items, 8), max_size=3)),
            "metadata": field(metadata, good=good_metadata),
        },
        {"subscription_id", "company_id"},
    )
    return {
        EventModel: events,
        UserModel: users,
        CompanyModel: companies,
        ActionModel: actions,
        SubscriptionModel: subscriptions,
    }


VALID = make_kinds(mixed=False)
MIXED = make_kinds(mixed=True)
# One value put in place of another, or where none was: boundaries of every rule.
BOUNDARY = [
    None, "", "  ", "x", 0, -1, 99, 100, 599, 600, True, 1.5, math.nan, "200", 200.0,
    "soon", "2024-05-01T12:00:00.123z", "2024-05-01T24:00:00.000Z", "2024-05-01T12:00:00Z",
    "base64", "", b"x", bytearray(b"x"), [], ["x"], ("x",), [1], ["x", None], [{"a": 1}],
    [{1: "a"}], [Text("x")], {}, {"a": ["x", "y"]}, {"a": 1}, {"a": None},
    {1: "x"}, {"k": {1, 2}}, {"k": nested(MAX_JSON_DEPTH)}, Text("x"), {Text("k"): "v"},
    datetime(2024, 5, 1, 12, 0, 0, 123999), datetime(2024, 5, 1, tzinfo=timezone.utc),
    MappingProxyType({"a": "b"}), "Incoming", "incoming", ]  # fmt: skip


def dicts_in(value: Any) -> list[dict[str, Any]]:
    """`value` and the dicts inside it, through lists: where a mutation may go."""
    found = [value] if isinstance(value, dict) else []
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    for child in children:
        if isinstance(child, (dict, list)) and len(found) < 40:
            found += dicts_in(child)
    return found


@st.composite
def mutated(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    """A valid dict with exactly one thing changed: a value set, a key dropped or added."""
    item = draw(VALID[cls])  # drawn afresh: nothing shared is changed
    target = draw(st.sampled_from(dicts_in(item)))
    names = [*target, "time", "status", "uri", "user_id", "transfer_encoding", "usr_id"]
    name = draw(st.sampled_from(names))
    if name in target and draw(st.integers(0, 4)) == 0:
        del target[name]
    else:
        target[name] = draw(st.sampled_from(BOUNDARY))
    return item


# Each class's dicts: valid ones as often as any (events twice as often as the rest).
BY_CLASS = {cls: VALID[cls] | mutated(cls) | MIXED[cls] for cls in VALID}
classes = st.sampled_from([EventModel, *BY_CLASS])
kinds = classes.flatmap(lambda cls: st.tuples(st.just(cls), BY_CLASS[cls]))
batches = classes.flatmap(
    lambda cls: st.tuples(
        st.just(cls), st.lists(VALID[cls] | VALID[cls] | mutated(cls) | MIXED[cls], max_size=5)
    )
)


# --- comparing the two paths ---

_GENERATED_ID = re.compile(
    rb'"transaction_id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"'
)


def outcome(run: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gave: its bytes (generated ids blanked), or its error's particulars."""
    try:
        result = run()
    except ValidationError as error:
        return ("error", type(error), str(error), error.field, error.reason)
    if isinstance(result, tuple):  # encode_many: the array and the item sizes
        return ("ok", _GENERATED_ID.sub(b"<id>", result[0]), result[1])
    return ("ok", _GENERATED_ID.sub(b"<id>", result))


def assert_same_single(cls: type, item: Any) -> None:
    model_path = outcome(lambda: _wire.encode_item(_wire.coerce(cls, item)))
    assert outcome(lambda: _wire.encode_input(cls, item)) == model_path


def assert_same_batch(cls: type, items: list[Any]) -> None:
    model_path = outcome(lambda: _wire.encode_many(_wire.coerce_all(cls, items)))
    assert outcome(lambda: _wire.encode_inputs(cls, items)) == model_path


JSON_PATHS = pytest.mark.parametrize("std", [False, True], ids=["orjson", "stdlib"])


@contextlib.contextmanager
def on_path(std: bool) -> Iterator[None]:
    """Both JSON paths: orjson (when installed) and the standard library's."""
    if not std and not _wire.FAST_JSON:
        pytest.skip("orjson is not installed")
    with pytest.MonkeyPatch.context() as patch:
        if std:
            patch.setattr(_wire, "_dumps", _wire._dumps_std)
        yield


@JSON_PATHS
@EXAMPLES
@given(case=kinds)
def test_one_dict_encodes_as_its_model_does(std: bool, case: tuple[type, Any]) -> None:
    cls, item = case
    with on_path(std):
        assert_same_single(cls, item)


@JSON_PATHS
@BATCH_EXAMPLES
@given(case=batches)
def test_a_batch_of_dicts_encodes_as_its_models_do(std: bool, case: tuple[type, list[Any]]) -> None:
    cls, items = case
    with on_path(std):
        assert_same_batch(cls, items)


@pytest.mark.slow
@JSON_PATHS
@settings(max_examples=300, deadline=None)
@given(case=batches)
def test_many_batches_of_dicts_encode_as_their_models_do(
    std: bool, case: tuple[type, list[Any]]
) -> None:
    cls, items = case
    with on_path(std):
        assert_same_batch(cls, items)


@settings(max_examples=15, deadline=None)
@given(
    pool=st.lists(VALID[EventModel], min_size=1, max_size=3),
    odd=st.none() | MIXED[EventModel],
    picks=st.lists(st.integers(0, 3), min_size=60, max_size=200),
    where=st.integers(0, 199),
)
def test_batches_over_several_chunks_agree(
    pool: list[Any], odd: Any, picks: list[int], where: int
) -> None:
    """More items than one chunk (`_CHUNK_ITEMS`), where errors and the per-chunk
    checks of a later chunk must come out as the model path has them."""
    items = [pool[pick % len(pool)] for pick in picks]
    if odd is not None:
        items.insert(where % len(items), odd)
    assert_same_batch(EventModel, items)


# --- examples worth pinning ---


def event(**extra: Any) -> dict[str, Any]:
    return {
        "request": {
            "time": "2024-05-01T12:00:00.123Z",
            "uri": "https://api.example.com/items",
            "verb": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": {"a": [1, 2]},
        },
        "response": {"time": "2024-05-01T12:00:00.456Z", "status": 201, "headers": {}},
        "transaction_id": "a5b3c1d2-0000-4000-8000-000000000001",
        **extra,
    }


def test_a_valid_dict_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model is built for a plain valid dict (the model path is never entered)."""

    def refuse(*args: object) -> None:
        raise AssertionError("took the model path")

    monkeypatch.setattr(_wire, "coerce", refuse)
    monkeypatch.setattr(_wire, "coerce_all", refuse)
    items = [event(user_id=f"u{i}", metadata={"i": i}) for i in range(150)]
    array, sizes = _wire.encode_inputs(EventModel, items)
    assert len(sizes) == 150
    assert _wire.encode_input(EventModel, items[0]) == array[1 : 1 + sizes[0]]


@JSON_PATHS
@pytest.mark.parametrize(
    ("item", "field"),
    [
        (event(usr_id="u1"), "usr_id"),
        ({**event(), "request": {**event()["request"], "time": "soon"}}, "request.time"),
        ({**event(), "request": {**event()["request"], "verb": None}}, "request.verb"),
        ({**event(), "response": {**event()["response"], "status": "201"}}, "response.status"),
        (event(metadata={"when": {1, 2}}), "metadata.when"),
        (event(metadata={1: "a"}), "metadata"),
        (event(metadata={"deep": nested(MAX_JSON_DEPTH)}), None),
        (event(weight=-1), "weight"),
    ],
)
def test_errors_name_the_same_field(std: bool, item: dict[str, Any], field: str | None) -> None:
    with on_path(std), pytest.raises(ValidationError) as fast:
        _wire.encode_input(EventModel, item)
    with pytest.raises(ValidationError) as slow:
        _wire.encode_item(_wire.coerce(EventModel, item))
    assert (str(fast.value), fast.value.field) == (str(slow.value), slow.value.field)
    if field is not None:
        assert fast.value.field == field
    assert_same_batch(EventModel, [event(), item])


def test_a_generated_transaction_id_is_a_uuid4() -> None:
    item = event()
    del item["transaction_id"]
    first, second = (_wire.encode_input(EventModel, item) for _ in range(2))
    assert _GENERATED_ID.search(first)
    assert _GENERATED_ID.search(second)
    assert first != second  # a new id each time, as a model built twice has


def nest_with(kinds: str, depth: int) -> object:
    """`depth` containers inside one another, cycling through `kinds`: l (list),
    t (tuple), d (dict), p (a mapping proxy)."""
    value: object = 0
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        if kind == "l":
            value = [value]
        elif kind == "t":
            value = (value,)
        elif kind == "d":
            value = {"k": value}
        else:
            value = MappingProxyType({"k": value})
    return value


@pytest.mark.parametrize("kinds", ["l", "t", "d", "p", "td", "tttd", "dddt", "tl"])
def test_depth_is_refused_where_it_always_was(kinds: str) -> None:
    """Nesting of lists, tuples (which orjson does not count in its own depth) and
    mappings: a batch refuses what one item alone refuses, the dict path what the
    model path refuses; past MAX_JSON_DEPTH, an error."""
    for depth in [*range(45, 56), *range(94, 104), 300]:
        items = [event(), event(metadata={"deep": nest_with(kinds, depth)}), event()]
        models = _wire.coerce_all(EventModel, items)
        one_by_one = outcome(
            lambda: b"[" + b",".join(_wire.encode_item(model) for model in models) + b"]"  # noqa: B023
        )
        batch = outcome(lambda: _wire.encode_many(models))  # noqa: B023
        assert batch[0] == one_by_one[0]
        if batch[0] == "ok":
            assert batch[1] == one_by_one[1]
        assert_same_batch(EventModel, items)
        assert_same_single(EventModel, items[1])
        if depth >= MAX_JSON_DEPTH:
            assert batch[0] == "error"


# Every field of every write model, each given every value of BOUNDARY (or dropped),
# one at a time, in a dict otherwise valid: each rule's edges, on both paths.
FULL: dict[type, dict[str, Any]] = {
    EventModel: event(
        user_id="u1",
        company_id="c1",
        session_token="s",
        subscription_id="sub",
        action_name="a",
        trace_id="t",
        span={"id": "s1", "parent_id": "p1", "links": ["l1", {"id": "l2"}], "status": 1},
        direction="Incoming",
        weight=2,
        metadata={"a": [1, None, {"b": 1.5}]},
        tags="x",
        blocked_by="r",
    ),
    UserModel: {
        "user_id": "u1",
        "company_id": "c1",
        "modified_time": "2024-05-01T12:00:00.123Z",
        "ip_address": "1.2.3.4",
        "session_token": "s",
        "user_agent_string": "ua",
        "campaign": {"utm_source": "ads", "gclid": "g"},
        "metadata": {"plan": "pro"},
    },
    CompanyModel: {
        "company_id": "c1",
        "company_domain": "example.com",
        "modified_time": "2024-05-01T12:00:00.123Z",
        "campaign": {"utm_medium": "cpc"},
        "metadata": {},
    },
    ActionModel: {
        "action_name": "Clicked",
        "request": {"uri": "https://x", "time": "2024-05-01T12:00:00.123Z", "ip_address": "ip"},
        "transaction_id": "a5b3c1d2-0000-4000-8000-000000000002",
        "user_id": "u1",
        "company_id": "c1",
        "subscription_id": "s",
        "session_token": "t",
        "metadata": {"k": "v"},
    },
    SubscriptionModel: {
        "subscription_id": "s1",
        "company_id": "c1",
        "status": "active",
        "current_period_start": "2024-05-01T12:00:00.123Z",
        "current_period_end": "2024-06-01T12:00:00Z",
        "items": [{"plan_id": "p", "price_id": "pr", "created_at": "2024-05-01T12:00:00Z"}],
        "metadata": {"k": 1},
    },
}
FULL[EventModel]["request"].update(api_version="1", ip_address="ip", content_length=3)
FULL[EventModel]["response"].update(ip_address="ip", body="ok", transfer_encoding="")
MISSING = object()


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of the wire dicts inside `value` (not into metadata or bodies)."""
    found = [at]
    for key, child in value.items():
        if key in ("metadata", "body"):
            continue
        if isinstance(child, dict):
            found += paths(child, (*at, key))
        elif isinstance(child, list) and child and isinstance(child[0], dict):
            found += paths(child[0], (*at, key, 0))
    return found


def with_one_change(item: dict[str, Any], at: tuple[Any, ...], key: str, value: Any) -> Any:
    changed = copy.deepcopy(item)
    target = changed
    for step in at:
        target = target[step]
    if value is MISSING:
        target.pop(key, None)
    else:
        target[key] = value
    return changed


@JSON_PATHS
@pytest.mark.parametrize("cls", list(FULL), ids=lambda cls: cls.__name__)
def test_every_field_at_every_edge(std: bool, cls: type) -> None:
    item = FULL[cls]
    with on_path(std):
        assert_same_single(cls, item)
        assert outcome(lambda: _wire.encode_input(cls, item))[0] == "ok"
        for at in paths(item):
            target = item
            for step in at:
                target = target[step]
            for key in [*target, "usr_id", "parent_span_id"]:
                for value in [MISSING, *BOUNDARY]:
                    changed = with_one_change(item, at, key, value)
                    assert_same_single(cls, changed)
                    assert_same_batch(cls, [item, changed])


def test_orjson_is_used_when_installed() -> None:
    """An import-time mistake in a helper the probe uses would quietly turn orjson off
    (`_orjson_agrees` takes any exception as a disagreement)."""
    pytest.importorskip("orjson")
    assert _wire.FAST_JSON
    assert _wire._dumps is _wire._dumps_fast
