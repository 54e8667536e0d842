"""The two JSON paths: orjson (the `fast` extra) and the standard library write the same bytes.

`_wire._dumps_std` is the reference; `_wire._dumps_fast` must produce identical bytes,
or hand the value back to the reference, for anything a model can hold. Errors for
unencodable values must be the same ValidationError, with the same path.
"""

from __future__ import annotations

import collections
import enum
import json
import math
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
    ValidationError,
    _wire,
    to_json,
)

pytest.importorskip("orjson")
pytestmark = pytest.mark.skipif(
    not _wire.FAST_JSON, reason="the installed orjson does not write what the reference writes"
)

UTC = timezone.utc
WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


class Tier(enum.Enum):
    GOLD = "gold"


class Level(enum.IntEnum):
    HIGH = 3


class Code(str):
    pass


class Count(int):
    pass


def deep(levels: int) -> object:
    value: object = [1e-5]
    for _ in range(levels):
        value = [value]
    return value


def reordered() -> collections.OrderedDict[str, int]:
    ordered = collections.OrderedDict([("a", 1), ("b", 2), ("c", 3)])
    ordered.move_to_end("a")  # iteration order now differs from insertion order
    return ordered


FLOATS = [
    0.0, -0.0, 0.1, 1 / 3, 19.95, 100.0, 1e15, 1e16, 1.2e30, 1e22, 1.7976931348623157e308,
    5e-324, 2.2250738585072014e-308, 1e-10, 1e-9, 3.3e-9, 1.5e-7, -2.5e-6, 1e-5, 9.99e-5,
    1e-4, 0.000123, -4.324248753454971e-09, 2.992109965734242e-05, 123456789.125,
]  # fmt: skip

VALUES: dict[str, object] = {
    "unicode": "zoë 東京 😀 \u2028\u2029 é",
    "controls": '\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f "quoted" back\\slash /',
    "floats": FLOATS,
    "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1],
    "big-int": 2**64,
    "huge-int": -(10**30),
    "datetimes": [WHEN, datetime(2024, 5, 1, 9, 15), WHEN.astimezone(timezone(timedelta(hours=5)))],
    "date": date(2024, 5, 1),
    "decimals": [Decimal("42"), Decimal("42.00"), Decimal("19.95"), Decimal("1E-7"), Decimal("-3")],
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "enums": [Tier.GOLD, Level.HIGH],
    "subclasses": [Code("abc"), Count(7), True, False],
    "tuple": (1, "two", (3.5, None)),
    "read-only": types.MappingProxyType({"a": 1, "b": [1.5e-7]}),
    "ordered": reordered(),
    "non-str-keys": {1: "a", 2.5: "b", False: "c", None: "d"},
    "nulls": {"a": None, "b": [None, None]},
    "nested": {"a": {"b": {"c": [{"d": [WHEN, Decimal("1.5"), 1e-6, Tier.GOLD]}]}}},
    "deep": {"x": deep(80)},  # near MAX_JSON_DEPTH (100); past it both paths refuse
    "model": UserModel(user_id="inner", metadata={"x": 1.5e-8}),
    "empty": [{}, [], ""],
}


def event(body: object = None, metadata: Any = None, **changes: Any) -> EventModel:
    return EventModel(
        request=EventRequestModel(
            time=WHEN,
            uri="https://api.example.com/ünïcode?q=東京",
            verb="POST",
            headers={"Content-Type": "application/json", "X-Emoji": "😀"},
            body=body,
            **changes,
        ),
        response=EventResponseModel(
            time=WHEN + timedelta(milliseconds=5), status=200, headers={}, body={"ok": 1.5e-7}
        ),
        user_id="u1",
        transaction_id="t1",
        metadata=metadata,
    )


def models() -> Iterator[object]:
    for name, value in VALUES.items():
        yield event(body={name: value}, metadata={name: value})
    yield event(body=b"\x00\xff raw bytes", metadata={"n": 1})
    yield event(body="plain text body")
    yield event(body=[1.5e-5, "a"], api_version="1.0", ip_address="::1")
    yield UserModel(user_id="zoë", metadata=dict(VALUES))
    yield CompanyModel(company_id="c", modified_time=WHEN, metadata={"revenue": Decimal("1e-6")})
    yield ActionModel(
        action_name="Clicked", request=ActionRequestModel(uri="https://a.test", time=WHEN)
    )
    yield SubscriptionModel(
        subscription_id="s",
        company_id="c",
        items=[SubscriptionItemModel(plan_id="p", metadata={"f": 2.5e-5})],
    )


def test_the_installed_orjson_agrees_with_the_reference_on_the_probe() -> None:
    assert _wire._orjson_agrees()
    assert _wire._dumps is _wire._dumps_fast


@pytest.mark.parametrize("model", list(models()), ids=lambda m: type(m).__name__)
def test_both_paths_write_identical_bytes_for_models(model: Any) -> None:
    data = _wire.to_dict(model)

    assert _wire._dumps_fast(data) == _wire._dumps_std(data)


@pytest.mark.parametrize("name", list(VALUES))
def test_both_paths_write_identical_bytes_for_each_kind_of_value(name: str) -> None:
    data = {"metadata": {name: VALUES[name]}}

    assert _wire._dumps_fast(data) == _wire._dumps_std(data)


def test_to_json_and_encode_many_are_identical_with_and_without_orjson(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = list(models())
    fast = to_json(batch)
    fast_array, fast_sizes = _wire.encode_many(batch)

    monkeypatch.setattr(_wire, "_dumps", _wire._dumps_std)

    assert to_json(batch) == fast
    assert _wire.encode_many(batch) == (fast_array, fast_sizes)


def test_floats_are_written_the_same_whichever_path_and_read_back_exactly() -> None:
    import orjson

    data = {"v": FLOATS}
    out = _wire._dumps_std(data)

    assert out == orjson.dumps(data)
    assert orjson.loads(out)["v"] == FLOATS


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_both_paths_agree_on_any_json_value(value: object) -> None:
    data = {"metadata": value}
    expected: bytes | ValidationError
    try:
        expected = _wire._dumps_std(data)
    except ValidationError as error:  # lone surrogates
        expected = error

    if isinstance(expected, bytes):
        assert _wire._dumps_fast(data) == expected
    else:
        with pytest.raises(ValidationError) as info:
            _wire._dumps_fast(data)
        assert (info.value.field, str(info.value)) == (expected.field, str(expected))


class Opaque:
    pass


UNENCODABLE: dict[str, object] = {
    "nan": math.nan,
    "inf": math.inf,
    "minus-inf": -math.inf,
    "nan-in-list": [1.0, math.nan],
    "nan-beside-a-real-null": [None, {"x": None, "y": math.nan}],
    "decimal-nan": Decimal("NaN"),
    "set": {1, 2},
    "frozenset": frozenset({"a"}),
    "bytes": b"raw",
    "bytearray": bytearray(b"raw"),
    "object": Opaque(),
    "surrogate": "\ud800",
    "time-of-day": datetime(2024, 5, 1).time(),
    "enum-of-nan": enum.Enum("Bad", {"X": math.nan}).X,  # type: ignore[attr-defined]
}


@pytest.mark.parametrize("name", list(UNENCODABLE))
def test_unencodable_values_raise_the_same_error_on_both_paths(name: str) -> None:
    data = {"metadata": {"a": [0, {"b": UNENCODABLE[name]}]}}
    errors: list[ValidationError] = []
    dumps: Callable[[object], bytes]
    for dumps in (_wire._dumps_std, _wire._dumps_fast):
        with pytest.raises(ValidationError) as info:
            dumps(data)
        errors.append(info.value)

    std, fast = errors
    assert (fast.field, str(fast)) == (std.field, str(std))
    assert std.field is not None
    assert std.field.startswith("metadata.a[1].b")


def test_an_unencodable_value_in_a_batch_names_the_item_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = [event(), event(metadata={"score": math.nan})]
    messages = []
    for dumps in (_wire._dumps_fast, _wire._dumps_std):
        monkeypatch.setattr(_wire, "_dumps", dumps)
        with pytest.raises(ValidationError) as info:
            to_json(batch)
        messages.append((info.value.field, str(info.value)))

    assert messages[0] == messages[1]
    assert messages[0][0] == "[1].metadata.score"


# `encode_many` encodes a batch in chunks of `_wire._CHUNK_ITEMS` items, with one
# search for orjson's nulls per chunk; these batches cross chunk boundaries.
CHUNK = _wire._CHUNK_ITEMS


class LocalUser(UserModel):
    """A subclass the wire module has no hook for until it first meets one."""


def long_batch() -> list[Any]:
    batch: list[Any] = [m for _ in range(5) for m in models()]  # every kind of value
    batch.insert(CHUNK + 1, LocalUser(user_id="local", metadata={"gone": None}))
    assert len(batch) > 2 * CHUNK
    return batch


@pytest.mark.parametrize("path", ["fast", "std"])
def test_a_long_batch_is_its_items_encoded_one_by_one_and_joined(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "std":
        monkeypatch.setattr(_wire, "_dumps", _wire._dumps_std)
    batch = long_batch()
    items = [_wire.encode_item(model) for model in batch]

    array, sizes = _wire.encode_many(iter(batch))

    assert array == b"[" + b",".join(items) + b"]"
    assert sizes == [len(item) for item in items]


@pytest.mark.parametrize("path", ["fast", "std"])
@pytest.mark.parametrize("index", [0, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK - 1])
def test_a_nan_beside_real_nulls_in_a_long_batch_names_its_index(
    path: str, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "std":
        monkeypatch.setattr(_wire, "_dumps", _wire._dumps_std)
    batch = [event(metadata={"empty": None}) for _ in range(3 * CHUNK)]
    batch[index] = event(metadata={"empty": None, "score": [1.5, math.nan]})

    with pytest.raises(ValidationError) as info:
        to_json(batch)

    assert info.value.field == f"[{index}].metadata.score[1]"


def test_in_a_long_batch_the_reference_decides_for_an_item_with_a_null_and_odd_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where orjson wrote a null and the item holds values it may write differently,
    # the item's bytes are the reference's, as with `_dumps_fast`: swap the reference
    # for one that marks what it wrote, and see the mark land at the item's place.
    reference = _wire._dumps_std

    def marking(data: object) -> bytes:
        return reference(data)[:-1] + b',"by":"reference"}'

    batch = [event(metadata={"n": 1}) for _ in range(2 * CHUNK)]
    batch[CHUNK + 2] = event(metadata={"when": WHEN, "empty": None})
    plain = _wire.encode_item(batch[CHUNK + 2])
    monkeypatch.setattr(_wire, "_dumps_std", marking)

    array, sizes = _wire.encode_many(batch)

    decoded = json.loads(array)
    assert [i for i, item in enumerate(decoded) if item.get("by") == "reference"] == [CHUNK + 2]
    assert sizes[CHUNK + 2] == len(plain) + len(b',"by":"reference"')
    assert len(array) == 2 + sum(sizes) + len(sizes) - 1
