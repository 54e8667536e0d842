"""Whether bytes are one JSON value that orjson reads back exactly: `json_check`.

For embedding the original bytes of an HTTP body into an event (`orjson.Fragment`)
instead of parsing and re-serialising it. `json_check(data, max_depth)` is 1 where
`data` is exactly one JSON value per RFC 8259 in optional whitespace (space, tab, LF,
CR), all valid UTF-8 (no overlong forms, no encoded surrogates, nothing above
U+10FFFF), with valid string escapes (a `\\uXXXX` high surrogate immediately followed by
a `\\u` low one; a lone surrogate escape fails), no raw control character in a string,
arrays and objects nested at most `max_depth` deep, no integer literal (a number with no
fraction and no exponent) of 19 digits or more, which orjson would read as a float or
past 64 bits, and no number that overflows a double (`1e400`). Duplicate keys are
allowed. It is 0 otherwise, and never raises for bytes; anything but bytes and an int
is a TypeError. A `max_depth` above `DEPTH_LIMIT`, orjson's own limit, counts as
`DEPTH_LIMIT`, and a negative one refuses everything.

A 1 thus means `orjson.loads(data)` succeeds, with no float inf or nan, no int over 64
bits and no nesting over `max_depth`, and `json.loads` reads the same value.

The function is the C one of `moesifapi._speedups` where that was built (no recursion,
hundreds of MB/s); `_json_check_python` is its pure-Python twin, used without it or
with MOESIFAPI_PURE_PYTHON=1 in the environment, and gives the same answer for every
input (tests/test_json_check.py holds both to a reference built on `json.loads`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

__all__ = ["DEPTH_LIMIT", "json_check"]

DEPTH_LIMIT = 1024
"""orjson.loads refuses arrays and objects nested deeper than this."""

_MAX_INT_DIGITS = 18

# One token after optional whitespace. A string is matched whole (escapes checked, no
# raw control characters; written unrolled so that it cannot backtrack); a number by the
# RFC's grammar, its integer part, fraction and exponent in groups of their own.
_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
      (?P<string>"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*")
    | (?P<number>-?(?P<int>0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][-+]?[0-9]+)?)
    | (?P<open>[\[{])
    | (?P<close>[\]}])
    | (?P<comma>,)
    | (?P<colon>:)
    | (?P<literal>true|false|null)
    )""",
    re.VERBOSE | re.ASCII,
)
_SPACE = re.compile(r"[ \t\n\r]*")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")

# What may come next: a value; a value or "]" (just after "["); a key or "}" (just
# after "{"); a key (after "," in an object); ":"; "," or the container's close.
_VALUE, _VALUE_OR_CLOSE, _KEY_OR_CLOSE, _KEY, _COLON, _AFTER = range(6)


def _escapes_pair_up(token: str) -> bool:
    """Whether every surrogate escape of a string token is a high one followed at once by
    a low one."""
    pending = -1  # where a high surrogate's escape ended, awaiting its low one
    for match in _ESCAPE.finditer(token):
        unit = int(match.group(1), 16) if match.group(1) else -1
        low = 0xDC00 <= unit <= 0xDFFF
        if pending >= 0:
            if not low or match.start() != pending:
                return False
            pending = -1
        elif low:
            return False
        elif 0xD800 <= unit <= 0xDBFF:
            pending = match.end()
    return pending < 0


def _number_passes(match: re.Match[str]) -> bool:
    if match.group("frac") is None and match.group("exp") is None:
        return len(match.group("int")) <= _MAX_INT_DIGITS
    value = float(match.group("number"))
    return value not in (float("inf"), float("-inf"))


def _json_check_python(data: bytes, max_depth: int, /) -> int:
    """The pure-Python twin of `_speedups.json_check`: the same answer for every input."""
    if not isinstance(data, bytes):
        raise TypeError(f"json_check() argument 1 must be bytes, not {type(data).__name__}")
    if not isinstance(max_depth, int):
        raise TypeError(f"json_check() argument 2 must be int, not {type(max_depth).__name__}")
    limit = min(max_depth, DEPTH_LIMIT)
    if limit < 0:
        return 0
    try:
        text = data.decode("utf-8")  # strict: no overlongs, surrogates or > U+10FFFF
    except UnicodeDecodeError:
        return 0
    in_object: list[bool] = []
    expect = _VALUE
    pos = 0
    end = len(text)
    match_token = _TOKEN.match
    while True:
        if expect == _AFTER and not in_object:
            return int(_SPACE.match(text, pos).end() == end)  # type: ignore[union-attr]
        token = match_token(text, pos)
        if token is None:
            return 0
        pos = token.end()
        kind = token.lastgroup
        if expect == _COLON:
            if kind != "colon":
                return 0
            expect = _VALUE
        elif expect == _AFTER:
            if kind == "comma":
                expect = _KEY if in_object[-1] else _VALUE
            elif kind == "close" and text[pos - 1] == ("}" if in_object[-1] else "]"):
                in_object.pop()
            else:
                return 0
        elif expect in (_KEY, _KEY_OR_CLOSE) and kind == "string":
            if not _string_passes(token.group("string")):
                return 0
            expect = _COLON
        elif kind == "close" and expect in (_KEY_OR_CLOSE, _VALUE_OR_CLOSE):
            if text[pos - 1] != ("}" if expect == _KEY_OR_CLOSE else "]"):
                return 0
            in_object.pop()  # an empty container
            expect = _AFTER
        elif expect in (_KEY, _KEY_OR_CLOSE):
            return 0
        elif kind == "open":
            if len(in_object) >= limit:
                return 0
            opened_object = text[pos - 1] == "{"
            in_object.append(opened_object)
            expect = _KEY_OR_CLOSE if opened_object else _VALUE_OR_CLOSE
        elif kind == "string":
            if not _string_passes(token.group("string")):
                return 0
            expect = _AFTER
        elif kind == "number":
            if not _number_passes(token):
                return 0
            expect = _AFTER
        elif kind == "literal":
            expect = _AFTER
        else:
            return 0


def _string_passes(token: str) -> bool:
    return "\\u" not in token or _SURROGATE_ESCAPE.search(token) is None or _escapes_pair_up(token)


def _choose() -> Callable[[bytes, int], int]:
    if os.environ.get("MOESIFAPI_PURE_PYTHON"):
        return _json_check_python
    try:
        from ._speedups import json_check as compiled
    except ImportError:  # pragma: no cover - installed without a C compiler
        return _json_check_python
    return compiled


json_check: Callable[[bytes, int], int] = _choose()
"""1 if `data` is one JSON value orjson reads back exactly (see the module), else 0."""
