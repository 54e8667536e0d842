"""The C writer (`_speedups.encode_model`, `encode_models`) writes a model's bytes
exactly as the Python path does (its hook, then orjson or the standard library), or
declines and leaves the item to that path; no input makes it write anything else.

`encode_item` and `to_json` use it whenever the speed-up is built and orjson encodes,
so the rest of the suite runs through it too; these tests hold it against the Python
path side by side, on generated models and on the edges it is built around.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import actions, companies, events, subscriptions, users

from moesifapi import (
    EventModel,
    EventRequestModel,
    EventResponseModel,
    UserModel,
    ValidationError,
    _wire,
    to_json,
)
from moesifapi._json_limits import MAX_JSON_DEPTH

try:
    from moesifapi import _speedups
except ImportError:  # pragma: no cover - only where no C compiler was found
    if os.environ.get("MOESIFAPI_REQUIRE_SPEEDUPS"):
        raise
    pytest.skip("moesifapi was installed without its C speed-up", allow_module_level=True)
if _wire._speedups is None:  # pragma: no cover - MOESIFAPI_PURE_PYTHON
    pytest.skip("the C speed-up is turned off", allow_module_level=True)

UTC = timezone.utc
EXAMPLES = settings(max_examples=60, deadline=None)


def c_writes(model: object) -> bytes | None:
    return _speedups.encode_model(model, _wire._PLANS, MAX_JSON_DEPTH)


def python_writes(model: Any) -> bytes | ValidationError:
    """What the Python path gives: the bytes of both JSON encoders (they agree), or
    the error they raise."""
    results: list[bytes | ValidationError] = []
    for dumps in (_wire._dumps_fast, _wire._dumps_std):
        if dumps is _wire._dumps_fast and not _wire.FAST_JSON:
            continue
        saved = _wire._dumps
        _wire._dumps = dumps
        try:
            results.append(_wire._encode_item_py(model))
        except ValidationError as error:
            results.append(error)
        finally:
            _wire._dumps = saved
    if isinstance(results[0], ValidationError):
        return results[0]
    assert all(result == results[0] for result in results)
    return results[0]


def assert_same(model: Any) -> bytes | None:
    """The C writer's bytes equal the Python path's, or it declined."""
    written = c_writes(model)
    expected = python_writes(model)
    if written is not None:
        assert written == expected
        assert type(written) is bytes
    return written


def request(**changes: Any) -> EventRequestModel:
    fields: dict[str, Any] = {
        "time": datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
        "uri": "https://api.example.com/items/1",
        "verb": "POST",
        "headers": {"Content-Type": "application/json"},
    }
    return EventRequestModel(**{**fields, **changes})


def event(**changes: Any) -> EventModel:
    fields: dict[str, Any] = {
        "request": request(),
        "response": EventResponseModel(
            time=datetime(2024, 5, 1, 12, 0, 0, 456000, tzinfo=UTC), status=200, headers={}
        ),
        "transaction_id": "t-1",
    }
    return EventModel(**{**fields, **changes})


# --- generated models: the same bytes, or declined ---


@EXAMPLES
@given(st.one_of(events(), users, companies, actions(), subscriptions))
def test_generated_models_are_written_as_the_python_path_writes_them(model: Any) -> None:
    assert_same(model)


@EXAMPLES
@given(st.lists(st.one_of(events(), users), max_size=6))
def test_a_batch_is_the_python_paths_batch(batch: list[Any]) -> None:
    joined, sizes = _speedups.encode_models(
        batch, _wire._PLANS, MAX_JSON_DEPTH, _wire._encode_item_at
    )
    items = [python_writes(model) for model in batch]
    assert joined == b"[" + b",".join(items) + b"]"  # type: ignore[arg-type]
    assert sizes == [len(item) for item in items]  # type: ignore[arg-type]


def test_the_common_event_is_written_by_the_c_writer() -> None:
    # It declining everything would pass the tests above: the common case must be its.
    model = event(
        user_id="u1",
        metadata={"plan": "free", "seats": 3, "tags": ["a", "b"], "ok": True, "none": None},
        request=request(body={"items": [{"id": 1, "liked": False}]}, ip_address="10.0.0.1"),
    )
    assert assert_same(model) is not None
    assert c_writes(UserModel(user_id="u1", modified_time=datetime(2024, 1, 1, tzinfo=UTC)))


# --- the values it writes itself: texts, integers, nesting ---

# Every byte that JSON escapes, the ones next to them, and multi-byte UTF-8, at each
# position of texts around the 8-byte words the writer tests at a time.
_chars = st.sampled_from(
    [
        *["\x00", "\x01", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", " ", '"', "\\"],
        *["/", "\x7f", "a", "é", "\u2028", "東", "😀"],
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_chars, max_size=40).map("".join), st.lists(_chars, max_size=20).map("".join))
def test_texts_are_escaped_as_orjson_escapes_them(value: str, key: str) -> None:
    assert assert_same(event(user_id=value, metadata={key: value})) is not None


@pytest.mark.parametrize("length", range(34))
@pytest.mark.parametrize("char", ["\n", '"', "\\", "\x1f", "é"])
def test_an_escape_at_every_position_of_short_texts(length: int, char: str) -> None:
    for at in range(length):
        value = "x" * at + char + "x" * (length - at - 1)
        assert assert_same(event(user_id=value)) is not None


@pytest.mark.parametrize(
    "value",
    [0, -1, 255, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1],
)
def test_integers_of_64_bits_are_written(value: int) -> None:
    assert assert_same(event(metadata={"n": value, "list": [value]})) is not None


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**40, -(10**40)])
def test_integers_past_64_bits_are_left_to_the_python_path(value: int) -> None:
    model = event(metadata={"n": value})
    assert c_writes(model) is None
    assert to_json(model) == python_writes(model)


@pytest.mark.parametrize(
    "value",
    [
        1.5,  # floats: the Python path spells them
        float("nan"),  # and refuses these
        "\ud800",  # a lone surrogate: refused
        b"raw",
        bytearray(b"raw"),
        datetime(2024, 1, 1, tzinfo=UTC),
        {1: "a"},  # a key that is not text
        {"k": {1, 2}},
        timedelta(seconds=1),
        type("Text", (str,), {})("sub"),  # subclasses may encode themselves otherwise
        type("Number", (int,), {})(3),
        type("Map", (dict,), {})(a=1),
    ],
    ids=repr,
)
def test_anything_else_in_metadata_is_left_to_the_python_path(value: object) -> None:
    model = event(metadata={"k": value})
    assert c_writes(model) is None
    expected = python_writes(model)
    if isinstance(expected, ValidationError):
        with pytest.raises(ValidationError) as info:
            to_json(model)
        assert (info.value.field, str(info.value)) == (expected.field, str(expected))
    else:
        assert to_json(model) == expected
        assert to_json([model, model]) == b"[" + expected + b"," + expected + b"]"


def nested(depth: int) -> object:
    value: object = "leaf"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


def test_nesting_up_to_the_limit_is_written_and_past_it_refused_by_the_python_path() -> None:
    # A user is depth 1, its metadata 2: MAX_JSON_DEPTH - 2 more containers fit.
    fits = UserModel(user_id="u", metadata={"a": nested(MAX_JSON_DEPTH - 2)})
    assert assert_same(fits) is not None
    deep = UserModel(user_id="u", metadata={"a": nested(MAX_JSON_DEPTH - 1)})
    assert c_writes(deep) is None
    with pytest.raises(ValidationError, match="deep"):
        to_json(deep)
    with pytest.raises(ValidationError) as info:
        to_json([fits, deep])
    assert info.value.field is not None
    assert info.value.field.startswith("[1].metadata")


def test_a_body_of_bytes_goes_as_base64_by_the_python_path() -> None:
    model = event(request=request(body=b"\x00\xff"))
    assert c_writes(model) is None
    assert b'"transfer_encoding":"base64"' in to_json(model)


def test_a_long_item_grows_the_buffer_and_the_next_one_is_still_right() -> None:
    big = event(metadata={"text": "x" * 600_000, "list": list(range(50_000))})
    small = event()
    assert assert_same(big) is not None
    assert assert_same(small) is not None
    items = [python_writes(m) for m in (small, big, small)]
    assert to_json([small, big, small]) == b"[" + b",".join(items) + b"]"  # type: ignore[arg-type]


# --- models it does not plan, or that are not what their plan says ---


def test_a_subclass_of_a_model_is_left_to_its_hook() -> None:
    @attrs.define(kw_only=True)
    class Tagged(UserModel):
        pass

    model = Tagged(user_id="u")
    assert c_writes(model) is None
    assert to_json(model) == b'{"user_id":"u"}'


def test_a_time_or_model_put_in_place_behind_attrs_back_is_left_to_the_python_path() -> None:
    model = event()
    object.__setattr__(model.request, "time", datetime(2024, 5, 1, 14, 0, 0, 123456))
    assert c_writes(model) is None
    assert b'"time":"2024-05-01T14:00:00.123Z"' in to_json(model)
    other = event()
    object.__setattr__(other, "response", "not a model")
    assert c_writes(other) is None


def test_a_slot_left_empty_is_left_to_the_python_path() -> None:
    model = object.__new__(UserModel)  # no attribute set at all
    assert c_writes(model) is None
    with pytest.raises(AttributeError):
        to_json(model)


def test_what_is_not_a_model_is_declined_and_a_batch_names_its_index() -> None:
    assert c_writes({"user_id": "u"}) is None
    with pytest.raises(ValidationError) as info:
        to_json([UserModel(user_id="u"), {"user_id": "u"}])  # type: ignore[list-item]
    assert info.value.field == "[1]"


# --- the functions' own contracts ---


def test_encode_models_passes_on_what_its_fallback_raises_or_returns_wrong() -> None:
    models = [UserModel(user_id="u"), event(metadata={"f": 1.5})]

    def fails(model: object, index: int) -> bytes:
        raise RuntimeError(f"item {index}")

    with pytest.raises(RuntimeError, match="item 1"):
        _speedups.encode_models(models, _wire._PLANS, MAX_JSON_DEPTH, fails)
    with pytest.raises(TypeError, match="bytes"):
        _speedups.encode_models(models, _wire._PLANS, MAX_JSON_DEPTH, lambda m, i: "text")  # type: ignore[arg-type, return-value]


def test_encode_models_survives_a_fallback_that_empties_the_list() -> None:
    models: list[Any] = [event(metadata={"f": 1.5}), UserModel(user_id="u")]

    def empties(model: object, index: int) -> bytes:
        models.clear()
        return b"{}"

    joined, sizes = _speedups.encode_models(models, _wire._PLANS, MAX_JSON_DEPTH, empties)
    assert (joined, sizes) == (b"[{}]", [2])


def test_model_plan_refuses_what_is_not_a_slot_or_a_kind() -> None:
    with pytest.raises(TypeError, match="slot"):
        _speedups.model_plan(UserModel, [("nope", b'"nope":', 0, None)])
    with pytest.raises(ValueError, match="kind"):
        _speedups.model_plan(UserModel, [("user_id", b'"user_id":', 99, None)])
    with pytest.raises(TypeError, match="plan"):
        _speedups.model_plan(EventModel, [("request", b'"request":', 4, None)])
    with pytest.raises(TypeError):
        _speedups.model_plan(UserModel, [("user_id", "not bytes", 0, None)])  # type: ignore[list-item]


def test_every_model_sent_on_the_wire_has_a_plan() -> None:
    sent = [cls for cls in _wire._MODEL_CLASSES if cls not in _wire._READ_MODELS]
    assert sorted(cls.__name__ for cls in _wire._PLANS) == sorted(cls.__name__ for cls in sent)


def test_the_writer_is_off_where_the_standard_library_encodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []

    def std(data: object) -> bytes:
        calls.append(data)
        return _wire._dumps_std(data)

    monkeypatch.setattr(_wire, "_dumps", std)
    to_json([UserModel(user_id="u")])
    _wire.encode_item(UserModel(user_id="u"))
    assert len(calls) == 2


# --- batch calls: `encode_inputs`, models and wire dicts together ---


def model_path(cls: type, items: list[Any]) -> tuple[bytes, list[int]] | ValidationError:
    try:
        return _wire.encode_many(_wire.coerce_all(cls, items))
    except ValidationError as error:
        return error


def test_a_batch_calls_models_and_dicts_give_the_model_paths_bytes() -> None:
    wire = {
        "request": {"time": "2024-05-01T12:00:00.000Z", "uri": "/x", "verb": "GET", "headers": {}},
        "transaction_id": "t-dict",
    }
    items: list[Any] = [event(), wire, event(metadata={"f": 1.5}), event(user_id="u2")]
    assert _wire.encode_inputs(EventModel, items) == model_path(EventModel, items)


@pytest.mark.parametrize(
    "items",
    [
        [event(), UserModel(user_id="u")],  # a model of another class: refused
        [event(metadata={"n": float("nan")}), {"request": {}}],  # the dict's error first
        [event(), {"request": {"uri": 1}}, event(metadata={"n": float("inf")})],
    ],
    ids=["other-model", "dict-error-after-bad-model", "dict-error-first"],
)
def test_a_batch_call_refuses_as_the_model_path_does(items: list[Any]) -> None:
    expected = model_path(EventModel, items)
    assert isinstance(expected, ValidationError)
    with pytest.raises(ValidationError) as info:
        _wire.encode_inputs(EventModel, items)
    assert (info.value.field, str(info.value)) == (expected.field, str(expected))
