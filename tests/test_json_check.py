"""`json_check`: the C function and its pure-Python twin, against a reference.

The reference is `json.loads` on the strictly decoded UTF-8 text with NaN/Infinity
refused, integers of 19 digits or more refused, numbers overflowing a double refused,
no lone surrogate left in any string and the depth at most max_depth (capped at orjson's
1024). Both implementations must give its answer for every input; a 1 must also mean
that orjson reads the bytes back to the same value.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moesifapi import _jsoncheck
from moesifapi._jsoncheck import DEPTH_LIMIT, _json_check_python

try:
    from moesifapi import _speedups
except ImportError:  # pragma: no cover - only where no C compiler was found
    if os.environ.get("MOESIFAPI_REQUIRE_SPEEDUPS"):
        raise
    _speedups = None  # type: ignore[assignment]

Check = Callable[[bytes, int], int]
_C = pytest.param(
    getattr(_speedups, "json_check", None),
    id="c",
    marks=pytest.mark.skipif(_speedups is None, reason="built without the C speed-up"),
)
IMPLEMENTATIONS = [_C, pytest.param(_json_check_python, id="python")]
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEPTH = 64


# --- the reference ---


class _Refused(ValueError):
    pass


def _refuse(text: str) -> object:
    raise _Refused(text)


def _int(text: str) -> int:
    if len(text.lstrip("-")) >= 19:
        raise _Refused(text)
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(text)
    return value


def _depth_if_clean(value: object) -> int | None:
    """The nesting depth of a parsed value, or None if a string in it holds a surrogate."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return None
        elif isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
    return deepest


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # duplicate keys are allowed; the later wins, as in orjson
    return dict(pairs)


def reference(data: bytes, max_depth: int) -> int:
    """For inputs nested well under the interpreter's recursion limit."""
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            parse_constant=_refuse,
            parse_int=_int,
            parse_float=_float,
            object_pairs_hook=_pairs,
        )
    except ValueError:  # UnicodeDecodeError and JSONDecodeError among them
        return 0
    depth = _depth_if_clean(value)
    return int(depth is not None and depth <= min(max_depth, DEPTH_LIMIT))


def _both(data: bytes, max_depth: int = DEPTH) -> int:
    """The answer of every implementation, asserted to be the reference's."""
    expected = reference(data, max_depth)
    assert _json_check_python(data, max_depth) == expected, data
    if _speedups is not None:
        assert _speedups.json_check(data, max_depth) == expected, data
    if expected:
        _assert_orjson_reads_it(data)
    return expected


def _assert_orjson_reads_it(data: bytes) -> None:
    orjson = pytest.importorskip("orjson")
    assert orjson.loads(data) == json.loads(data.decode("utf-8")), data


# --- generated inputs ---

_PIECES = [
    *(bytes([c]) for c in b'{}[],:"\\ \t\n\r0123456789-+.eEu'),
    b'"a"',
    b'"\xc3\xa9"',
    b"true",
    b"false",
    b"null",
    b"nul",
    b"tru",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"\\u",
    b"d800",
    b"dbff",
    b"dc00",
    b"DFFF",
    b"0041",
    b"\\ud83d\\ude00",
    b"\\n",
    b"\\x",
    b"\\/",
    b"\\'",
    b"\x0c",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xe2\x82",
    b"\x80",
    b"\xbf",
    b"\xff",
    b"\xef\xbb\xbf",
    b"e308",
    b"e309",
    b"e-400",
    b"1.7976931348623157",
    b"1.7976931348623159",
    b"1234567890123456789",
    b"123456789012345678",
    b"-922337203685477580",
]

token_soup = st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON document, written one of several ways, maybe damaged in one place."""
    value = draw(json_values)
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent)
    data = text.encode("utf-8")
    if data and draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["insert", "replace", "delete"]))
        piece = draw(st.sampled_from(_PIECES))
        if how == "insert":
            data = data[:at] + piece + data[at:]
        elif how == "replace":
            data = data[:at] + piece + data[at + 1 :]
        else:
            data = data[:at] + data[at + 1 :]
    return data


numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?\Z").map(
    lambda text: text.encode()
)


@st.composite
def near_the_largest_double(draw: st.DrawFn) -> bytes:
    """Numbers about 1.8e308, on either side of overflow, written several ways."""
    digits = draw(st.integers(min_value=17_976_931_348_623_150, max_value=17_976_931_348_623_170))
    text = str(digits)
    shift = draw(st.integers(min_value=-3, max_value=3))
    point = 1 + shift if shift >= 0 else 1
    mantissa = text[:point] + "." + text[point:]
    exponent = 308 - shift
    sign = draw(st.sampled_from(["", "-"]))
    return f"{sign}{mantissa}e{exponent}".encode()


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(st.binary(max_size=60), id="bytes"),
        pytest.param(token_soup, id="token-soup"),
        pytest.param(documents(), id="documents"),
        pytest.param(numbers, id="numbers"),
        pytest.param(near_the_largest_double(), id="near-dbl-max"),
        pytest.param(
            st.tuples(numbers, st.sampled_from([b"[", b'{"k":', b""])).map(
                lambda pair: pair[1] + pair[0] + {b"[": b"]", b'{"k":': b"}", b"": b""}[pair[1]]
            ),
            id="numbers-inside",
        ),
    ],
)
def test_both_implementations_give_the_reference_answer(strategy: Any) -> None:
    @EXAMPLES
    @given(strategy, st.integers(min_value=-1, max_value=6) | st.just(DEPTH))
    def check(data: bytes, max_depth: int) -> None:
        _both(data, max_depth)

    check()


# --- a corpus of edge cases ---

_DBL_MAX = int(sys.float_info.max)
_HALFWAY = _DBL_MAX + 2**970  # ties to even: up, to infinity

CORPUS: list[tuple[bytes, int]] = [
    # values
    (b"0", 1),
    (b"-0", 1),
    (b"-0.0e-0", 1),
    (b"1", 1),
    (b"true", 1),
    (b"false", 1),
    (b"null", 1),
    (b'""', 1),
    (b"[]", 1),
    (b"{}", 1),
    (b' \t\n\r[ 1 , { "a" : [ ] } ]\r\n\t ', 1),
    (b'{"a":1,"a":2}', 1),  # duplicate keys
    (b'"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u00e9\\uFFFF"', 1),
    (b'"\\ud83d\\ude00"', 1),
    (b'"\\uD83D\\uDE00"', 1),
    (b'"\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9 \xf4\x8f\xbf\xbf \xee\x80\x80"', 1),
    (b'"\x7f"', 1),  # DEL is no control character to JSON
    (b'"\\\\ud800"', 1),  # an escaped backslash, then text
    # numbers
    (b"123456789012345678", 1),
    (b"-123456789012345678", 1),
    (b"1234567890123456789", 0),
    (b"-1234567890123456789", 0),
    (b"18446744073709551615", 0),
    (b"99999999999999999999999999", 0),
    (b"1234567890123456789.0", 1),
    (b"1234567890123456789e0", 1),
    (b"1e308", 1),
    (b"1.7976931348623157e308", 1),
    (b"1.7976931348623158e308", 1),
    (b"1.7976931348623159e308", 0),
    (b"-1.7976931348623159e308", 0),
    (f"{_DBL_MAX}.0".encode(), 1),
    (f"{_HALFWAY - 1}.0".encode(), 1),
    (f"{_HALFWAY}.0".encode(), 0),
    (f"0.{_HALFWAY - 1}e309".encode(), 1),
    (f"0.{_HALFWAY}e309".encode(), 0),
    (b"1e309", 0),
    (b"1e400", 0),
    (b"-1e400", 0),
    (b"1E+400", 0),
    (b"1e99999999999999999999999999", 0),
    (b"0e99999999999999999999999999", 1),
    (b"0.000e400", 1),
    (b"0.001e310", 1),
    (b"0.01e310", 1),
    (b"0.1e310", 0),
    (b"1e-400", 1),
    (b"1e-99999999999999999999999999", 1),
    (b"100e306", 1),
    (b"1000e306", 0),
    (b"1" * 308 + b".5", 1),
    (b"1" * 309 + b".5", 1),
    (b"1" * 310 + b".5", 0),
    (b"0." + b"0" * 1000 + b"1e1310", 0),
    (b"0." + b"0" * 1000 + b"1e1300", 1),
    # not JSON
    (b"", 0),
    (b" ", 0),
    (b" \t\r\n", 0),
    (b"\xef\xbb\xbf{}", 0),  # a BOM
    (b"\x0c1", 0),  # form feed is no JSON whitespace
    (b"1\x00", 0),
    (b"[1,]", 0),
    (b'{"a":1,}', 0),
    (b"[,]", 0),
    (b"[,1]", 0),
    (b"[1,,2]", 0),
    (b"[1 2]", 0),
    (b'{"a" 1}', 0),
    (b'{"a"}', 0),
    (b'{"a":}', 0),
    (b"{1:2}", 0),
    (b"{'a':1}", 0),
    (b"[}", 0),
    (b"{]", 0),
    (b"[]]", 0),
    (b"[[]", 0),
    (b"[1]x", 0),
    (b"1 2", 0),
    (b"{}{}", 0),
    (b"01", 0),
    (b"-01", 0),
    (b"00", 0),
    (b"-", 0),
    (b"--1", 0),
    (b"+1", 0),
    (b"1.", 0),
    (b".5", 0),
    (b"1.e5", 0),
    (b"1e", 0),
    (b"1e+", 0),
    (b"1e-", 0),
    (b"0x10", 0),
    (b"NaN", 0),
    (b"Infinity", 0),
    (b"-Infinity", 0),
    (b"nan", 0),
    (b"tru", 0),
    (b"True", 0),
    (b"nul", 0),
    (b"nulll", 0),
    (b'"', 0),
    (b'"abc', 0),
    (b'"\\"', 0),
    (b'"\x00"', 0),
    (b'"\x1f"', 0),
    (b'"\t"', 0),
    (b'"\n"', 0),
    (b'"\\x"', 0),
    (b'"\\a"', 0),
    (b'"\\\'"', 0),
    (b'"\\u"', 0),
    (b'"\\u12"', 0),
    (b'"\\u12G4"', 0),
    (b'"\\U0041"', 0),
    (b'"\\ud800"', 0),
    (b'"\\udc00"', 0),
    (b'"\\udfff\\ud800"', 0),
    (b'"\\ud800\\ud800"', 0),
    (b'"\\ud800\\u0041"', 0),
    (b'"\\ud800 \\udc00"', 0),
    (b'"\\ud800\\n"', 0),
    (b'"\\ud800x"', 0),
    (b'"\\ud800\\"', 0),
    (b'"\\ud800\\u"', 0),
    (b'"\\ud800\\udc0"', 0),
    (b'"\xc0\xaf"', 0),  # overlong "/"
    (b'"\xc1\xbf"', 0),
    (b'"\xe0\x80\xaf"', 0),
    (b'"\xe0\x9f\xbf"', 0),
    (b'"\xf0\x80\x80\xaf"', 0),
    (b'"\xf0\x8f\xbf\xbf"', 0),
    (b'"\xed\xa0\x80"', 0),  # an encoded surrogate
    (b'"\xed\xbf\xbf"', 0),
    (b'"\xed\xa0\xbd\xed\xb8\x80"', 0),  # CESU-8
    (b'"\xf4\x90\x80\x80"', 0),  # above U+10FFFF
    (b'"\xf5\x80\x80\x80"', 0),
    (b'"\xff"', 0),
    (b'"\x80"', 0),
    (b'"\xc3"', 0),  # truncated
    (b'"\xe2\x82"', 0),
    (b'"\xf0\x9f\x98"', 0),
    (b"\xc3\xa9", 0),  # text outside a string
    (b'"\xe2\x82\xac', 0),
    (b"\xe2\x82\xac", 0),
]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(("data", "expected"), CORPUS, ids=[repr(d)[:40] for d, _ in CORPUS])
def test_the_corpus(implementation: Check, data: bytes, expected: int) -> None:
    assert implementation(data, DEPTH) == expected


@pytest.mark.parametrize(("data", "expected"), CORPUS, ids=[repr(d)[:40] for d, _ in CORPUS])
def test_the_corpus_agrees_with_the_reference(data: bytes, expected: int) -> None:
    assert reference(data, DEPTH) == expected


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("data", [d for d, _ in CORPUS if len(d) > 2])
def test_every_truncation_of_the_corpus(implementation: Check, data: bytes) -> None:
    for end in range(len(data)):
        assert implementation(data[:end], DEPTH) == reference(data[:end], DEPTH), data[:end]


# --- depth ---


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"0" + b"]" * depth


def _objects(depth: int) -> bytes:
    return b'{"k":' * depth + b"1" + b"}" * depth


def _mixed(depth: int) -> bytes:
    inner = b'[{"k":' * (depth // 2) + b"0" + b"}]" * (depth // 2)
    return b"[" + inner + b"]" if depth % 2 else inner


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape", [_arrays, _objects, _mixed])
@pytest.mark.parametrize("max_depth", [0, 1, 2, 5, 32, 64, 100])
def test_nesting_at_max_depth_passes_and_one_more_fails(
    implementation: Check, shape: Callable[[int], bytes], max_depth: int
) -> None:
    assert implementation(shape(max_depth), max_depth) == 1
    assert implementation(shape(max_depth + 1), max_depth) == 0
    assert implementation(shape(max_depth + 2), max_depth) == 0
    assert _both(shape(max_depth), max_depth) == 1
    assert _both(shape(max_depth + 1), max_depth) == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_scalars_are_depth_zero_and_a_negative_max_depth_refuses_all(
    implementation: Check,
) -> None:
    assert implementation(b"1", 0) == 1
    assert implementation(b"[]", 0) == 0
    for value in (b"1", b'"a"', b"null", b"[]"):
        assert implementation(value, -1) == 0
        assert implementation(value, -(10**30)) == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_depth_is_capped_at_orjsons_limit(implementation: Check) -> None:
    orjson = pytest.importorskip("orjson")
    deepest = _arrays(DEPTH_LIMIT)
    too_deep = _arrays(DEPTH_LIMIT + 1)
    orjson.loads(deepest)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(too_deep)
    for max_depth in (DEPTH_LIMIT, DEPTH_LIMIT + 1, 10**6, 10**30):
        assert implementation(deepest, max_depth) == 1
        assert implementation(too_deep, max_depth) == 0
    assert implementation(deepest, DEPTH_LIMIT - 1) == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("closed", [True, False])
def test_ten_thousand_levels_deep(implementation: Check, closed: bool) -> None:
    for data in (
        _arrays(10_000) if closed else b"[" * 10_000,
        _objects(10_000) if closed else b'{"k":' * 10_000,
    ):
        assert implementation(data, 10**6) == 0
        assert implementation(data, 100) == 0


# --- size ---


def _body(items: int) -> bytes:
    return json.dumps(
        {
            "message": "hello",
            "items": [
                {
                    "id": n,
                    "name": f"widget-{n}",
                    "price": 10.99 + n,
                    "in_stock": n % 2 == 0,
                    "tags": ["blue", "small", "caf\u00e9", "\U0001f600"],
                    "note": None,
                }
                for n in range(items)
            ],
        },
        ensure_ascii=False,
    ).encode()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_large_body(implementation: Check) -> None:
    # About 5 MB for the C check (its buffer handling past any small size); 1 MB for
    # the Python twin, whose loop is the same at any size and takes 2 s over 5 MB.
    items, least = (8_000, 900_000) if implementation is _json_check_python else (40_000, 4_000_000)
    body = _body(items)
    assert len(body) > least
    assert implementation(body, DEPTH) == 1
    assert implementation(body[:-1], DEPTH) == 0
    assert implementation(body + b"\x00", DEPTH) == 0
    broken = body[: len(body) // 2] + b"\xff" + body[len(body) // 2 + 1 :]
    assert implementation(broken, DEPTH) == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_huge_string_and_a_huge_number(implementation: Check) -> None:
    repeats = 400_000 if implementation is _json_check_python else 2_000_000  # 2.8 or 14 MB
    text = b'"' + b"ab\xc3\xa9\\n" * repeats + b'"'
    assert implementation(text, 0) == 1
    assert implementation(text[:-1], 0) == 0
    assert implementation(b"1." + b"5" * 1_000_000, 0) == 1
    assert implementation(b"1" * 400 + b"." + b"5" * 1_000_000, 0) == 0
    assert implementation(b"0." + b"0" * 1_000_000 + b"1e1000300", 0) == 1


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_body_of_the_benchmark(implementation: Check) -> None:
    body = _body(6)
    assert _both(body) == 1
    assert implementation(body, DEPTH) == 1


# --- types ---


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("data", [bytearray(b"1"), memoryview(b"1"), "1", None, 1])
def test_anything_but_bytes_is_a_type_error(implementation: Check, data: Any) -> None:
    with pytest.raises(TypeError):
        implementation(data, DEPTH)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("max_depth", [1.0, "1", None])
def test_a_max_depth_not_an_int_is_a_type_error(implementation: Check, max_depth: Any) -> None:
    with pytest.raises(TypeError):
        implementation(b"1", max_depth)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_bytes_subclass_and_a_bool_depth_are_accepted(implementation: Check) -> None:
    class Body(bytes):
        pass

    assert implementation(Body(b"[1]"), True) == 1
    assert implementation(b"[1]", False) == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_wrong_number_of_arguments_is_a_type_error(implementation: Any) -> None:
    with pytest.raises(TypeError):
        implementation(b"1")
    with pytest.raises(TypeError):
        implementation(b"1", 1, 1)


def test_the_module_uses_the_c_function_where_it_was_built() -> None:
    pure = bool(os.environ.get("MOESIFAPI_PURE_PYTHON"))
    if _speedups is None or pure:
        assert _jsoncheck.json_check is _json_check_python
    else:
        assert _jsoncheck.json_check is _speedups.json_check


# --- `json_keys_check`: the same check, and a look at each object key ---

NEEDLES = (b"api_key", b"password", b"secret", b"token", b"x-api-key")


def _keys_of(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys_of(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys_of(item)]
    return []


_key_texts = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["token", "MyPassword", "x-API-key", "SeCrEt_2", "to\u212aen", "tok", "en"]),
)
_key_documents = st.recursive(
    st.none() | st.integers(-1000, 1000) | _key_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_key_texts, inner, max_size=3),
    max_leaves=10,
)


@pytest.mark.skipif(_speedups is None, reason="built without the C speed-up")
@EXAMPLES
@given(
    st.one_of(
        st.tuples(_key_documents, st.booleans()).map(
            lambda pair: json.dumps(pair[0], ensure_ascii=pair[1]).encode()
        ),
        documents(),
        st.binary(max_size=40),
    )
)
def test_json_keys_check_is_json_check_and_never_misses_a_private_key(data: bytes) -> None:
    answer = _speedups.json_keys_check(data, DEPTH, NEEDLES)
    assert (answer != 0) == bool(_speedups.json_check(data, DEPTH))
    if answer == 1:  # said clean: no key, as Python lowers it, holds a needle
        keys = _keys_of(json.loads(data))
        assert not any(needle.decode() in key.lower() for key in keys for needle in NEEDLES)


@pytest.mark.skipif(_speedups is None, reason="built without the C speed-up")
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"name": "token", "list": ["password"]}', 1),  # values are not keys
        (b'{"a": {"b": [{"AccessToken": 1}]}}', 2),
        (b'{"x-api-ke": 1, "secre": 2}', 1),  # a needle cut short
        (b'{"\\u0061": 1}', 2),  # an escape could spell anything
        ('{"caf\u00e9": 1}'.encode(), 2),  # so could a letter past ASCII, lowered
        (b'{"token": 1', 0),
        (b"[]", 1),
    ],
)
def test_json_keys_check_examples(data: bytes, expected: int) -> None:
    assert _speedups.json_keys_check(data, DEPTH, NEEDLES) == expected


@pytest.mark.skipif(_speedups is None, reason="built without the C speed-up")
def test_json_keys_check_refuses_bad_needles() -> None:
    with pytest.raises(TypeError, match="non-empty bytes"):
        _speedups.json_keys_check(b"{}", DEPTH, (b"",))
    with pytest.raises(ValueError, match="at most 64"):
        _speedups.json_keys_check(b"{}", DEPTH, tuple(b"n%d" % i for i in range(65)))
    with pytest.raises(TypeError, match="tuple"):
        _speedups.json_keys_check(b"{}", DEPTH, [b"token"])
