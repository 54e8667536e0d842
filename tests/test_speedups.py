"""The optional C speed-up writes exactly what its pure-Python twins write.

`moesifapi._speedups` is built by `pip install` where a C compiler is found; without
it, `_wire` uses the twins. The rest of the suite runs with whichever is installed
(in CI, the C one, as MOESIFAPI_REQUIRE_SPEEDUPS makes its absence a failure); these
tests hold the two side by side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import actions, companies, events, subscriptions, users

from moesifapi import EventModel, EventRequestModel, _wire

try:
    from moesifapi import _speedups
except ImportError:  # pragma: no cover - only where no C compiler was found
    if os.environ.get("MOESIFAPI_REQUIRE_SPEEDUPS"):
        raise
    pytest.skip("moesifapi was installed without its C speed-up", allow_module_level=True)

UTC = timezone.utc
EXAMPLES = settings(max_examples=80, deadline=None)


def test_the_installed_package_uses_the_speedup() -> None:
    assert _wire.SPEEDUPS is (not os.environ.get("MOESIFAPI_PURE_PYTHON"))


def test_moesifapi_pure_python_in_the_environment_turns_it_off() -> None:
    code = "from moesifapi import _wire; print(_wire.SPEEDUPS)"
    env = {**os.environ, "MOESIFAPI_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- times ---


@EXAMPLES
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_a_utc_time_is_written_as_format_timestamp_writes_it(naive: datetime) -> None:
    value = naive.replace(tzinfo=UTC)
    assert _speedups.utc_millis(value) == _wire.format_timestamp(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
        (datetime(2024, 5, 1, 12, 3, 4, 5000, tzinfo=UTC), "2024-05-01T12:03:04.005Z"),
        (datetime(2024, 5, 1, 12, 3, 4, 999, tzinfo=UTC), "2024-05-01T12:03:04.000Z"),
    ],
)
def test_utc_times_at_the_edges(value: datetime, text: str) -> None:
    assert _speedups.utc_millis(value) == text


class _Moment(datetime):
    pass


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 5, 1, 12),  # naive
        datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(0), "UTC")),  # not `utc` itself
        _Moment(2024, 5, 1, 12, tzinfo=UTC),  # a subclass may format itself its own way
        date(2024, 5, 1),
        "2024-05-01T12:00:00.000Z",
        None,
    ],
    ids=["naive", "offset", "other-utc-object", "subclass", "date", "text", "none"],
)
def test_anything_but_an_exact_utc_datetime_is_left_to_python(value: object) -> None:
    assert _speedups.utc_millis(value) is None


# --- the search for orjson's nulls ---


@EXAMPLES
@given(st.binary(max_size=80), st.binary(max_size=80), st.booleans())
def test_has_null_finds_null_wherever_it_is(before: bytes, after: bytes, insert: bool) -> None:
    data = before + (b"null" if insert else b"") + after
    assert _speedups.has_null(data) is (b"null" in data)


@EXAMPLES
@given(st.text(alphabet="nul lx", max_size=60))
def test_has_null_among_near_misses(text: str) -> None:
    data = text.encode()
    assert _speedups.has_null(data) is (b"null" in data)


@pytest.mark.parametrize("length", range(4, 40))
def test_has_null_at_every_position_of_short_buffers(length: int) -> None:
    for position in range(length - 3):
        data = bytearray(b"x" * length)
        data[position : position + 4] = b"null"
        assert _speedups.has_null(data), (length, position)
        data[position + 1] = ord("x")  # "nxll": an 'n' and an 'l' three apart
        assert not _speedups.has_null(data), (length, position)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_has_null_reads_any_bytes_like_object(kind: Any) -> None:
    assert _speedups.has_null(kind(b'{"a":null}')) is True
    assert _speedups.has_null(kind(b'{"a":1}')) is False


def test_has_null_refuses_text() -> None:
    with pytest.raises(TypeError):
        _speedups.has_null("null")  # type: ignore[arg-type]


# --- the counts of opening brackets and the type tests of the dict fast path ---


def _opening(data: bytes) -> int:
    return data.count(b"{") + data.count(b"[")


@EXAMPLES
@given(st.binary(max_size=600) | st.text(alphabet="{[]}x", max_size=600).map(str.encode))
def test_count_opening_counts_both_brackets(data: bytes) -> None:
    assert _speedups.count_opening(data) == _opening(data)


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 4079, 4080, 4081, 5000, 70_000])
def test_count_opening_past_its_byte_wide_counters(length: int) -> None:
    for fill in (b"{", b"[", b"x"):
        data = fill * length
        assert _speedups.count_opening(data) == _opening(data), (fill, length)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_count_opening_reads_any_bytes_like_object(kind: Any) -> None:
    assert _speedups.count_opening(kind(b'{"a":[{}]}')) == 3


@EXAMPLES
@given(
    st.lists(st.text(alphabet="{[x", max_size=20).map(str.encode), max_size=20),
    st.integers(-1, 12),
)
def test_over_opening_and_its_python_twin_agree(items: list[bytes], limit: int) -> None:
    expected = [i for i, item in enumerate(items) if _opening(item) > limit]
    assert _speedups.over_opening(items, limit) == expected
    assert _wire._over_opening_python(items, limit) == expected


def test_over_opening_refuses_what_is_not_a_list_of_bytes() -> None:
    with pytest.raises(TypeError):
        _speedups.over_opening((b"{",), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.over_opening([b"{", "{"], 0)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _speedups.over_opening([b"{"], "0")  # type: ignore[arg-type]


class _Text(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    ("value", "values", "items"),
    [
        ({}, True, True),
        ({"a": "b", "c": ""}, True, True),
        ({"a": "b", "c": 1}, False, False),
        ({"a": None}, False, False),
        ({"a": _Text("b")}, False, False),  # exactly str, as `.__class__ is str` tests
        ({_Text("a"): "b"}, True, False),
        ({1: "b"}, True, False),
        (_Dict(a="b"), False, False),  # exactly dict
        ([("a", "b")], False, False),
        (None, False, False),
        ("ab", False, False),
    ],
)
def test_str_values_and_str_items(value: object, values: bool, items: bool) -> None:
    assert _speedups.str_values(value) is values
    assert _speedups.str_items(value) is items


# --- whole hooks: both sets write the same dicts ---

_C_HOOKS = _wire._make_unstructure_hooks(compiled=True)
_PY_HOOKS = _wire._make_unstructure_hooks(compiled=False)


@EXAMPLES
@given(st.one_of(events(), users, companies, actions(), subscriptions))
def test_hooks_with_and_without_the_speedup_write_the_same_dicts(model: Any) -> None:
    cls = model.__class__
    assert _C_HOOKS[cls](model) == _PY_HOOKS[cls](model)


def test_a_time_set_by_hand_outside_the_converter_is_still_written_right() -> None:
    # attrs runs the converter on assignment; a value put in place behind its back
    # (object.__setattr__) must still come out as UTC milliseconds with a Z.
    request = EventRequestModel(
        time=datetime(2024, 5, 1, tzinfo=UTC), uri="/", verb="GET", headers={}
    )
    object.__setattr__(request, "time", datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=None))
    event = EventModel(request=request, transaction_id="t")
    for hooks in (_C_HOOKS, _PY_HOOKS):
        assert hooks[EventModel](event)["request"]["time"] == "2024-05-01T14:00:00.123Z"


def test_has_null_and_its_python_twin_agree_on_a_batch() -> None:
    batch = _wire.to_json([EventModel(request=_request(n), metadata={"n": None}) for n in range(3)])
    python_twin = re.compile(b"null").search
    assert _speedups.has_null(batch) is (python_twin(batch) is not None) is True
    clean = batch.replace(b"null", b"0")
    assert _speedups.has_null(clean) is (python_twin(clean) is not None) is False


def _request(n: int) -> EventRequestModel:
    return EventRequestModel(
        time=datetime(2024, 5, 1, 0, 0, n, tzinfo=UTC), uri="/", verb="GET", headers={}
    )


# --- contains_any: the capture's look for private field names in a body ---

_needles = st.lists(st.binary(min_size=1, max_size=6).map(bytes.lower), min_size=1, max_size=8).map(
    tuple
)


@settings(max_examples=500)
@given(data=st.binary(max_size=80), needles=_needles, upper=st.booleans())
def test_contains_any_and_its_python_twin_agree(
    data: bytes, needles: tuple[bytes, ...], upper: bool
) -> None:
    from moesifapi.integrations._capture import _lowered_contains_any

    if upper:
        data = data.upper()
    assert _speedups.contains_any(data, needles) is _lowered_contains_any(data, needles)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b'{"PassWord": 1}', True),
        (b'{"user": "x"}', False),
        (b"passwor", False),  # cut off at the end
        (b"xxPASSWORD", True),
        (b"", False),
    ],
)
def test_contains_any_in_any_letter_case(data: bytes, found: bool) -> None:
    assert _speedups.contains_any(data, (b"token", b"password")) is found


def test_contains_any_refuses_what_it_cannot_read() -> None:
    with pytest.raises(TypeError):
        _speedups.contains_any("text", (b"a",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.contains_any(b"a", (b"",))
    with pytest.raises(ValueError, match="64"):
        _speedups.contains_any(b"a", tuple(bytes([97 + i % 26]) * (i + 1) for i in range(65)))


# --- reads_alike: `moesif send`'s check before orjson reads a line ---

_json_ish = st.lists(st.sampled_from([b"{", b"[", b"}", b"]", b"0", b"7", b"9", b"a", b",", b" "]))


@settings(max_examples=500)
@given(parts=_json_ish, max_opening=st.integers(1, 12), max_digits=st.integers(1, 12))
def test_reads_alike_and_its_python_twin_agree(
    parts: list[bytes], max_opening: int, max_digits: int
) -> None:
    data = b"".join(parts)
    shape = bytes(0x30 if 0x30 <= b <= 0x39 else 0x7B if b in (0x5B, 0x7B) else 0x20 for b in data)
    expected = b"0" * max_digits not in shape and shape.count(b"{") < max_opening
    assert _speedups.reads_alike(data, max_opening, max_digits) is expected


def test_reads_alike_is_what_the_send_command_uses() -> None:
    from moesifapi.cli import _records

    lines = [b'{"n": 1234567890123456789}', b'{"n": 123456789012345678}', b"[" * 600, b"{}"]
    for line in lines:
        assert _records._fast_reads_alike(line) is _records._reads_alike_python(line)
    assert [_records._fast_reads_alike(line) for line in lines] == [False, True, False, True]
    assert _records._fast_reads_alike is _records._reads_alike_compiled
