"""The wire format: models to the Collector API's underscore JSON and back.

One cattrs converter, built on first use, owns both directions, and the hooks it holds
for encoding are also called directly on the hot path. The JSON encoding rules (UTC
``Z`` timestamps, base64 bytes, encodable metadata) live here and nowhere else.
"""

from __future__ import annotations

import base64
import enum
import functools
import io
import json
import math
import os
import re
import threading
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import models
from ._json_limits import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS
from .exceptions import ValidationError

if TYPE_CHECKING:
    import cattrs

try:  # the optional `fast` extra; the standard library writes the same bytes without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the stdlib-only test run
    _orjson = None  # type: ignore[assignment]

# The optional C speed-up (`_speedups.c`), built by the install where a C compiler is
# found. Its functions have pure-Python twins below (`json_check`'s in `_jsoncheck`)
# that give the same answers; MOESIFAPI_PURE_PYTHON=1 in the environment makes this
# module use the twins.
try:
    from . import _speedups as _speedups  # re-exported: integrations read its json_check
except ImportError:  # pragma: no cover - installed without a C compiler
    _speedups = None  # type: ignore[assignment]
if os.environ.get("MOESIFAPI_PURE_PYTHON"):
    _speedups = None  # type: ignore[assignment]

SPEEDUPS: bool = _speedups is not None
"""Whether the compiled speed-up is in use."""

__all__ = [
    "encode_input",
    "encode_inputs",
    "encode_item",
    "encode_item_sized",
    "encode_many",
    "format_timestamp",
    "from_dict",
    "to_dict",
    "to_json",
]

M = TypeVar("M", bound=attrs.AttrsInstance)

_UTC = timezone.utc

# Read models describe server answers: a key the server adds later must not break us.
# Each keeps the keys it does not know in its `extra` mapping, written back out by
# `to_dict`, and takes an integral float (50.0) where it wants an int.
_READ_MODEL_CLASSES: tuple[type, ...] = (  # nested ones before those holding them
    models.RegexCondition,
    models.RegexSamplingRule,
    models.RegexConditionGroup,
    models.EntityRuleValues,
    models.AppConfig,
    models.GovernanceResponse,
    models.RuleVariable,
    models.GovernanceRule,
)
_READ_MODELS: frozenset[type] = frozenset(_READ_MODEL_CLASSES)
_EXTRA = "extra"
# Attribute names that differ from their JSON key.
_RENAMED: dict[tuple[type, str], str] = {(models.GovernanceRule, "id"): "_id"}
# Other spellings `from_dict` reads for a key: the reference's own event example writes
# the span's `parent_id` (as its field table names it) as `parent_span_id`.
_ALIASES: dict[tuple[type, str], str] = {(models.SpanModel, "parent_span_id"): "parent_id"}
# Attributes that are not part of the JSON body at all.
_NOT_ON_WIRE: frozenset[tuple[type, str]] = frozenset({(models.AppConfig, "etag")})

_MODEL_CLASSES: tuple[type, ...] = (
    models.EventRequestModel,
    models.EventResponseModel,
    models.SpanModel,
    models.EventModel,
    models.CampaignModel,
    models.UserModel,
    models.CompanyModel,
    models.ActionRequestModel,
    models.ActionModel,
    models.SubscriptionItemModel,
    models.SubscriptionModel,
    *_READ_MODEL_CLASSES,
)


def converter() -> cattrs.Converter:
    """The one cattrs converter, with every model's hooks registered on it.

    Built on first use, as importing cattrs adds a quarter to `import moesifapi`
    and the hot paths need none of it: encoding calls the hooks in `_UNSTRUCTURE`
    directly. `from_dict` (and so every write method given a dict) builds it.
    """
    built = _CONVERTER
    if built is None:
        with _CONVERTER_LOCK:
            built = _CONVERTER or _build_converter()
    return built


_CONVERTER: cattrs.Converter | None = None
_CONVERTER_LOCK = threading.Lock()


# --- encoding values ---


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``; naive values are taken as UTC.

    >>> format_timestamp(datetime(2024, 5, 1, 12, 0, 0, 123456))
    '2024-05-01T12:00:00.123Z'
    """
    if value.tzinfo is not _UTC:
        value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


# Every event carries two timestamps, and `isoformat` on an aware datetime costs about
# a microsecond, more than encoding the rest of the event. Model time fields always hold
# UTC at millisecond precision (the converters in `models` see to it) and the events of
# one batch mostly share a few seconds, so the text up to the second is cached per
# second and the milliseconds come from a table: a quarter of the cost. Bounded; a
# race between threads at worst formats one second twice.
_SECOND_TEXT: dict[tuple[int, int, int, int], str] = {}
_SECOND_TEXT_LIMIT = 4096
_MILLIS_TEXT: tuple[str, ...] = tuple(f".{ms:03d}Z" for ms in range(1000))


def _format_model_time(value: datetime) -> str:
    """`format_timestamp` for a model's time field, via the per-second cache."""
    if value.tzinfo is not _UTC:  # not from a model's converter: take the general path
        return format_timestamp(value)
    key = (value.toordinal(), value.hour, value.minute, value.second)
    prefix = _SECOND_TEXT.get(key)
    if prefix is None:
        if len(_SECOND_TEXT) >= _SECOND_TEXT_LIMIT:
            _SECOND_TEXT.clear()
        prefix = _SECOND_TEXT[key] = value.isoformat(timespec="seconds")[:-6]
    return prefix + _MILLIS_TEXT[value.microsecond // 1000]


def _encode_body(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


class _Unencodable(TypeError):
    """Raised from inside `json.dumps`; turned into a ValidationError with a path."""


def _encode_extra(value: object) -> object:
    """What JSON lacks: how metadata and bodies carry datetimes, decimals, ids, enums."""
    if isinstance(value, datetime):
        try:
            return format_timestamp(value)
        except Exception as error:  # a custom tzinfo's utcoffset() raised or is out of range
            raise _Unencodable(f"a datetime whose tzinfo fails: {error}") from error
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _encode_decimal(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return to_dict(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping):  # metadata is typed `Mapping`; json only takes a dict
        return dict(value)
    raise _Unencodable(_unencodable_reason(value))


# A float's exponent ends near 1e308; past it (or past MAX_JSON_INT_DIGITS for an
# integral value) a Decimal is refused from its exponent alone, before any conversion,
# so `Decimal("1e1000000")` costs what its nine characters do.
_MAX_DECIMAL_EXPONENT = 308


def _encode_decimal(value: Decimal) -> object:
    """A Decimal as an int when integral, else a float; in time bounded by its length."""
    if not value.is_finite():
        raise _Unencodable(f"{value} is not a finite number")
    exponent = value.adjusted()  # the power of ten of its leading digit
    if exponent >= MAX_JSON_INT_DIGITS:
        raise _Unencodable(f"a number of more than {MAX_JSON_INT_DIGITS} digits")
    if value == value.to_integral_value():  # 42 and 42.00 are written as 42
        return int(value)
    if exponent > _MAX_DECIMAL_EXPONENT:
        raise _Unencodable("a Decimal too large for a JSON number (a float)")
    return float(value)


def _unencodable_reason(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, (set, frozenset)):
        return f"a {kind} is not JSON; pass a list instead"
    if isinstance(value, (bytes, bytearray)):
        return f"{kind} inside metadata or a JSON body is not JSON; decode or base64 it first"
    return f"a {kind} is not JSON-encodable"


# --- JSON bytes: the standard library's encoding is the reference; orjson, when
# installed, must produce the same bytes or hand the item back to it ---

# One encoder for every call: `json.dumps` with options builds a new one each time.
_STD_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_encode_extra
)

# The one place the two disagree on a finite number: for 1e-9 <= |x| < 1e-4, Python
# writes 1e-05 and 1.5e-07 where orjson (3.11.7 and later) writes 0.00001 and 1.5e-7.
# Rewriting those few tokens here keeps orjson's path free of any check on floats; the
# regex matches whole strings first, so nothing inside a string is touched.
_TINY_FLOAT = r'"(?:[^"\\]|\\.)*"|(?<![\d.])(-?)(\d)(?:\.(\d+))?e-0([5-9])(?!\d)'


def _orjson_style_float(match: re.Match[str]) -> str:
    sign, lead, fraction, exponent = match.groups()
    if lead is None:  # a string, kept as it is
        return match.group(0)
    if exponent == "5":
        return f"{sign}0.0000{lead}{fraction or ''}"
    return f"{sign}{lead}{'.' + fraction if fraction else ''}e-{exponent}"


def _dumps_std(data: object) -> bytes:
    """Compact UTF-8 JSON with the standard library; unencodable input raises
    a ValidationError naming the path of the first bad value."""
    try:
        text = _STD_ENCODER.encode(data)
        if "e-0" in text:  # rare: compiled (and cached by `re`) on first use
            text = re.sub(_TINY_FLOAT, _orjson_style_float, text, flags=re.DOTALL)
        out = text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise _locate_unencodable(data, "") or ValidationError(str(error)) from error
    _refuse_too_deep(data, out)
    return out


# Datetimes, dataclasses and subclasses of str/int/dict/list go to `_encode_extra` as
# they do with the standard library; the rest orjson encodes alike byte for byte.
_ORJSON_OPTIONS = (
    (
        _orjson.OPT_PASSTHROUGH_DATETIME
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    if _orjson is not None
    else 0
)
# orjson writes NaN and the infinities as null where the reference raises. So when its
# output holds a null, the item is checked for such a float; only then, or when it holds
# anything but plain JSON values, does the reference encode it (raising, or writing the
# same bytes). Real nulls in bodies and metadata are common; NaN is not. The scan reads
# every byte of the output: in C, 16 bytes at a time (72 KB in 4 µs); in Python, the
# fastest is a regex literal search (faster than `bytes.find` here), 7 times slower.
_has_null: Callable[[bytes], object] = (
    _speedups.has_null if _speedups is not None else re.compile(b"null").search
)
_PLAIN_JSON_LEAVES = (str, int, bool, type(None))


def _over_opening_python(items: list[bytes], limit: int) -> list[int]:
    return [i for i, out in enumerate(items) if out.count(b"{") + out.count(b"[") > limit]


# An upper bound on the nesting of encoded JSON: its "{" and "[" (strings' included).
# In C, one pass over the bytes (16 at a time) where two `bytes.count` make two; for a
# chunk, one call over the list of items' bytes.
_count_opening: Callable[[bytes], int] = (
    _speedups.count_opening
    if _speedups is not None
    else lambda out: out.count(b"{") + out.count(b"[")
)
_over_opening: Callable[[list[bytes], int], list[int]] = (
    _speedups.over_opening if _speedups is not None else _over_opening_python
)


def _may_hold_non_finite(data: object) -> bool:
    """False only for plain JSON values whose floats are all finite."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        kind = value.__class__
        if kind is dict:
            stack.extend(value.values())
        elif kind is list or kind is tuple:
            stack.extend(value)
        elif kind is float:
            if not math.isfinite(value):
                return True
        elif kind not in _PLAIN_JSON_LEAVES:
            return True  # went through `_encode_extra`: let the reference decide
    return False


def _dumps_fast(data: object) -> bytes:
    """`_dumps_std`'s bytes at orjson's speed; anything orjson declines or may write
    differently (a null that may be a NaN) is encoded by `_dumps_std` instead."""
    try:
        out: bytes = _orjson.dumps(data, default=_encode_extra, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: big ints, non-str keys, unencodable values,
        # nesting past 254 or a cycle: walked first (bounded), so that the reference never
        # recurses into what would exhaust the stack or stall in int-to-str.
        found = _locate_unencodable(data, "")
        if found:
            raise found from None
        return _dumps_std(data)
    # `_refuse_too_deep` and `_checked`, inline: this runs for every item encoded.
    if _count_opening(out) > MAX_JSON_DEPTH:
        _refuse_too_deep(data, out)
    if _has_null(out) and _may_hold_non_finite(data):
        return _dumps_std(data)
    return out


def _checked(data: object, out: bytes) -> bytes:
    """orjson's `out` for `data`, unless it holds a null that may be a NaN: then the
    reference's bytes, or its ValidationError for the non-finite float."""
    if _has_null(out) and _may_hold_non_finite(data):
        return _dumps_std(data)
    return out


# What `_orjson_agrees` checks: every kind of float text (and strings, and integers at
# the 64-bit edge) that an orjson release could write differently from the reference.
_PROBE: list[object] = [
    [1e16, 1.2e30, 1e22, 1.7976931348623157e308, 5e-324, 1e-10, 2.2250738585072014e-308],
    [1.5e-07, 2.5e-05, -1e-05, 9.5e-06, -3.3e-09, 1e-09, 0.0001, 9.99e-05],
    [0.1, -0.0, 100.0, 1 / 3, 123456789.125, 1e15, 9007199254740993.0, -2.5],
    [2**63 - 1, -(2**63), 0, True, False],
    '\x00\x08\x1f\x7f"\\/\n\r\t\u2028\u2029é東😀',
    {"k": [{}, [], ""]},
]


def _orjson_agrees() -> bool:
    """True when the installed orjson writes the probe exactly as the reference does."""
    try:
        return bool(_orjson.dumps(_PROBE, option=_ORJSON_OPTIONS) == _dumps_std(_PROBE))
    except Exception:  # an orjson too old for these options
        return False


# Keys the standard library writes as strings (and so do we, on both paths).
_KEY_LEAVES = (str, int, float, bool, type(None))
_INT_LIMIT = 10**MAX_JSON_INT_DIGITS  # the least integer of more digits than allowed
_MAX_SHOWN_PATH = 200


def _shown(path: str) -> str | None:
    """A path for an error, cut short past a few hundred characters."""
    if len(path) > _MAX_SHOWN_PATH:
        return path[:_MAX_SHOWN_PATH] + "..."
    return path or None


def _locate_unencodable(
    value: object, path: str, depth: int = 0, within: set[int] | None = None
) -> ValidationError | None:
    """The first value under `value` that JSON cannot carry, as an error naming it.

    `depth` is how many arrays and objects enclose `value`, `within` their ids: a
    value deeper than `MAX_JSON_DEPTH`, or one that contains itself, is refused here,
    so this never recurses further than that.
    """
    if value is None or isinstance(value, (str, bool)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return ValidationError(
                    "contains a lone surrogate; not valid UTF-8", field=_shown(path)
                )
        return None
    if isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            return ValidationError(
                f"is an integer of more than {MAX_JSON_INT_DIGITS} digits", field=_shown(path)
            )
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return ValidationError(f"{value} is not a finite number", field=_shown(path))
    if within is None:
        within = set()
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in within:
            return ValidationError(
                "contains itself (a circular reference); JSON cannot carry it", field=_shown(path)
            )
        if depth >= MAX_JSON_DEPTH:
            return ValidationError(
                f"nests arrays and objects more than {MAX_JSON_DEPTH} deep", field=_shown(path)
            )
        within.add(id(value))
        try:
            return _locate_in(value, path, depth, within)
        finally:
            within.discard(id(value))
    try:
        replacement = _encode_extra(value)
    except _Unencodable as error:
        return ValidationError(str(error), field=_shown(path))
    return _locate_unencodable(replacement, path, depth, within)


def _locate_in(
    value: Mapping[object, object] | list[object] | tuple[object, ...],
    path: str,
    depth: int,
    within: set[int],
) -> ValidationError | None:
    """`_locate_unencodable` for the items of an array or an object."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, _KEY_LEAVES):
                return ValidationError(f"key {_describe(key)} is not a string", field=_shown(path))
            name = key if isinstance(key, str) else json.dumps(key)
            at = f"{path}.{name}" if path else name
            if isinstance(key, str):
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError:
                    return ValidationError(
                        "has a key with a lone surrogate; not valid UTF-8", field=_shown(at)
                    )
            found = _locate_unencodable(item, at, depth + 1, within)
            if found:
                return found
        return None
    for index, item in enumerate(value):
        found = _locate_unencodable(item, f"{path}[{index}]", depth + 1, within)
        if found:
            return found
    return None


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _may_nest_too_deep(out: bytes | str) -> bool:
    """False when `out` (encoded JSON) cannot nest deeper than `MAX_JSON_DEPTH`: it holds
    no more brackets than that. Two counts in C; only a larger item is walked."""
    if isinstance(out, bytes):
        return _count_opening(out) > MAX_JSON_DEPTH
    return out.count("{") + out.count("[") > MAX_JSON_DEPTH


def _refuse_too_deep(data: object, out: bytes | str) -> None:
    """A ValidationError when `data`, encoded as `out`, nests past `MAX_JSON_DEPTH`."""
    if _may_nest_too_deep(out):
        found = _locate_unencodable(data, "")
        if found:
            raise found


# Decided once the helpers `_dumps_std` uses are defined.
FAST_JSON: bool = _orjson is not None and _orjson_agrees()
"""Whether orjson encodes (its output checked equal to the standard library's)."""

_dumps: Callable[[object], bytes] = _dumps_fast if FAST_JSON else _dumps_std


# --- unstructuring: models -> dicts of JSON values ---


def _optional_target(annotation: object) -> object:
    """`X` for `X | None`, else the annotation itself."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _nested_model(annotation: object) -> tuple[type | None, bool]:
    """(model class, is_list) when the field holds a model or a list of models."""
    target = _optional_target(annotation)
    if isinstance(target, type) and attrs.has(target):
        return target, False
    if typing.get_origin(target) is list:
        (item,) = typing.get_args(target)
        if isinstance(item, type) and attrs.has(item):
            return item, True
    return None, False


def _mapped_lists_model(annotation: object) -> type | None:
    """The model class when the field is a mapping of text to lists of that model."""
    target = _optional_target(annotation)
    if typing.get_origin(target) is Mapping:
        _, value = typing.get_args(target)
        nested, is_list = _nested_model(value)
        if is_list:
            return nested
    return None


class _HookSource(typing.NamedTuple):
    """What writing the hooks of one set needs beyond the model class."""

    namespace: dict[str, Any]  # the globals of the generated functions
    hooks: Mapping[type, Callable[[Any], dict[str, Any]]]  # the set's hooks written so far
    time: str  # how a model's time field `{0}` is written: a value of `_TIME_SOURCE`


# How a hook writes a model's time field `{0}`. With the C speed-up, one call; it gives
# None for a time not made by a model's converter, which `_format_model_time` then takes.
# Without it, `_format_model_time` inlined: its cache hit costs less than the call.
_TIME_SOURCE: dict[bool, str] = {
    True: "_ctime({0}) or _time({0})",
    False: (
        "(_SECOND_TEXT.get(({0}.toordinal(), {0}.hour, {0}.minute, {0}.second))"
        " or _time({0})[:19]) + _MILLIS_TEXT[{0}.microsecond // 1000]"
        " if {0}.tzinfo is _UTC else _time({0})"
    ),
}


def _make_unstructure_fn(
    cls: type, hooks: Mapping[type, Callable[[Any], dict[str, Any]]], compiled: bool
) -> Callable[[Any], dict[str, Any]]:
    """The unstructure hook of one model class, written out as Python source.

    cattrs' generic generator calls one hook per field and compares each field with its
    default using ``!=``. Here every default is None and most values are JSON already,
    so the hook reads each attribute once, tests it with ``is not None`` and stores
    strings, numbers, headers and metadata as they are: a third of the time. A nested
    model (an event's request and response) is built inline, not through a call. The
    keys and their order are the generic hook's: fields that are always present
    (required, or with a factory such as ``transaction_id``) first, then the set
    optional ones. `hooks` holds the hooks of model classes nested in lists; `compiled`
    says whether time fields are written by the C speed-up.
    """
    namespace: dict[str, Any] = {
        "_time": _format_model_time,
        "_ctime": _speedups.utc_millis if compiled else None,
        "_body": _encode_body,
        "_UTC": _UTC,
        "_SECOND_TEXT": _SECOND_TEXT,
        "_MILLIS_TEXT": _MILLIS_TEXT,
    }
    function = f"unstructure_{cls.__name__}"
    body = _dict_source(cls, "o", "res", _HookSource(namespace, hooks, _TIME_SOURCE[compiled]))
    source = f"def {function}(o):\n{_indent(body, 1)}    return res\n"
    exec(compile(source, f"<moesifapi._wire {function}>", "exec"), namespace)
    hook: Callable[[Any], dict[str, Any]] = namespace[function]
    return hook


def _indent(lines: list[str], depth: int) -> str:
    return "".join(f"{'    ' * depth}{line}\n" for line in lines)


def _dict_source(cls: type, obj: str, out: str, source: _HookSource) -> list[str]:
    """Source lines that set the local `out` to the wire dict of the model in `obj`.

    Locals are named after the path to them (``o_request_time``), so the lines of a
    nested model never reuse a name of the model around them.
    """
    before: list[str] = []  # reads and nested dicts that the dict literal uses
    always: list[str] = []
    optional: list[str] = []
    spread: list[str] = []  # a read model's unknown keys, after its own
    for field in attrs.fields(cls):
        name = field.name
        if (cls, name) in _NOT_ON_WIRE:
            continue
        local = f"{obj}_{name}"
        if name == _EXTRA and cls in _READ_MODELS:
            spread.append(f"{local} = {obj}.{name}")
            spread.append(f"if {local}:")
            spread.append(
                f"    {out}.update({{k: v for k, v in {local}.items() if k not in {out}}})"
            )
            continue
        key = _RENAMED.get((cls, name), name)
        nested, is_list = _nested_model(field.type)
        mapped = _mapped_lists_model(field.type)
        inline: list[str] = []  # lines that build the value into `{out}_{name}`
        if nested is not None and not is_list:
            inline = _dict_source(nested, local, f"{out}_{name}", source)
            template = f"{out}_{name}"
        elif nested is not None:
            source.namespace[f"_hook_{nested.__name__}"] = source.hooks[nested]
            template = f"[_hook_{nested.__name__}(x) for x in {{0}}]"
        elif mapped is not None:
            source.namespace[f"_hook_{mapped.__name__}"] = source.hooks[mapped]
            template = (
                f"{{{{k: [_hook_{mapped.__name__}(x) for x in v] for k, v in {{0}}.items()}}}}"
            )
        elif _optional_target(field.type) is datetime:
            template = source.time
        elif name == "body":
            template = "_body({0}) if isinstance({0}, bytes) else {0}"  # bytes go as base64
        else:  # text, numbers, headers, metadata: `_dumps` encodes what JSON lacks
            template = "{0}"
        default = field.default
        if default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if template == "{0}":
                always.append(f"{key!r}: {obj}.{name}")
            else:  # read once into a local, as the template uses it more than once
                before.append(f"{local} = {obj}.{name}")
                before.extend(inline)
                always.append(f"{key!r}: {template.format(local)}")
            continue
        if default is None:
            test = f"{local} is not None"
        else:
            source.namespace[f"_default_{cls.__name__}_{name}"] = default
            test = f"{local} != _default_{cls.__name__}_{name}"
        optional.append(f"{local} = {obj}.{name}")
        optional.append(f"if {test}:")
        optional.extend(f"    {line}" for line in inline)
        optional.append(f"    {out}[{key!r}] = {template.format(local)}")
    return [*before, f"{out} = {{{', '.join(always)}}}", *optional, *spread]


def _make_unstructure_hooks(compiled: bool) -> dict[type, Callable[[Any], dict[str, Any]]]:
    """Every model's hook; `compiled`: whether they use the C speed-up."""
    hooks: dict[type, Callable[[Any], dict[str, Any]]] = {}
    for cls in _MODEL_CLASSES:  # inner classes come first, so their hooks exist
        attrs.resolve_types(cls, globalns=vars(models))
        hooks[cls] = _make_unstructure_fn(cls, hooks, compiled)
    return hooks


# Hooks by class, looked up directly on the hot path (cattrs' dispatch costs more).
_UNSTRUCTURE = _make_unstructure_hooks(SPEEDUPS)


# --- the C writer's plans: models straight to JSON bytes, no dict between ---

# The field kinds of `_speedups.model_plan`, in its order.
_PLAN_KINDS = (
    "value",
    "optional value",
    "time",
    "optional time",
    "model",
    "optional model",
    "optional body",
    "optional models",
)
_KIND = {name: number for number, name in enumerate(_PLAN_KINDS)}


def _plan_fields(cls: type, plans: Mapping[type, object]) -> list[tuple[str, bytes, int, object]]:
    """The fields of `cls` as `_speedups.model_plan` takes them, in the order that
    `_dict_source` writes them (always present first, then optional); ValueError for
    a field the C writer has no kind for."""
    always: list[tuple[str, bytes, int, object]] = []
    optional: list[tuple[str, bytes, int, object]] = []
    for field in attrs.fields(cls):
        name = field.name
        if (cls, name) in _NOT_ON_WIRE:
            continue
        default = field.default
        required = default is attrs.NOTHING or isinstance(default, attrs.Factory)  # type: ignore[arg-type]
        if not required and default is not None:
            raise ValueError(f"{cls.__name__}.{name}: a default that is not None")
        nested, is_list = _nested_model(field.type)
        plan: object = None
        if nested is not None:
            plan = plans[nested]  # KeyError: a nested class without a plan
            kind = "optional models" if is_list else "model" if required else "optional model"
            if is_list and required:
                raise ValueError(f"{cls.__name__}.{name}: a required list of models")
        elif _mapped_lists_model(field.type) is not None:
            raise ValueError(f"{cls.__name__}.{name}: a mapping of lists of models")
        elif _optional_target(field.type) is datetime:
            kind = "time" if required else "optional time"
        elif name == "body" and not required:
            kind = "optional body"
        else:
            kind = "value" if required else "optional value"
        key = json.dumps(_RENAMED.get((cls, name), name)).encode() + b":"
        (always if required else optional).append((name, key, _KIND[kind], plan))
    return always + optional


def _make_plans() -> dict[type, object]:
    """The C writer's plan of each model class sent on the wire (read models, whose
    unknown keys go back out, are left to the hooks)."""
    plans: dict[type, object] = {}
    if _speedups is None:
        return plans
    for cls in _MODEL_CLASSES:  # inner classes first, so their plans exist
        if cls in _READ_MODELS:
            continue
        try:
            plans[cls] = _speedups.model_plan(cls, _plan_fields(cls, plans))
        except (KeyError, TypeError, ValueError):  # pragma: no cover - a model it cannot plan
            continue
    return plans


_PLANS = _make_plans()
# Each class's plan alone: the writer takes only items of exactly that class.
_ONE_PLAN = {cls: {cls: plan} for cls, plan in _PLANS.items()}
_encode_model = _speedups.encode_model if _speedups is not None else None
_encode_models = _speedups.encode_models if _speedups is not None else None


def _unstructure_hook(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The hook for `cls` (a model subclass, or any attrs class), fetched once."""
    hook = _UNSTRUCTURE.get(cls)
    if hook is None:
        hook = _UNSTRUCTURE[cls] = converter().get_unstructure_hook(cls)
    return hook


# --- structuring: dicts -> models, with errors that name the key ---


_ValueHook = Callable[[Any], Any]


def _structure_list(item_hook: Callable[[Any, type], Any], item_cls: type) -> _ValueHook:
    def structure(value: object) -> list[object]:
        if not isinstance(value, list):
            raise ValidationError(f"must be a JSON array, got {type(value).__name__}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(item_hook(item, item_cls))
            except ValidationError as error:
                raise error.under(f"[{index}]") from error.__cause__
        return out

    return structure


def _structure_mapped_lists(list_hook: _ValueHook) -> _ValueHook:
    """A JSON object of arrays of models, such as `AppConfig.user_rules`."""

    def structure(value: object) -> dict[object, object]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"must be a JSON object, got {type(value).__name__}")
        out: dict[object, object] = {}
        for key, items in value.items():
            try:
                out[key] = list_hook(items)
            except ValidationError as error:
                raise error.under(str(key)) from error.__cause__
        return out

    return structure


def _integral(value: object) -> object:
    """An integral float (50.0, as some servers write an int) as that int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # anything else goes on for the field's validator to name


def _integral_values(value: object) -> object:
    if isinstance(value, Mapping) and any(item.__class__ is float for item in value.values()):
        return {key: _integral(item) for key, item in value.items()}
    return value


def _value_hook(conv: cattrs.Converter, annotation: object, lenient: bool) -> _ValueHook | None:
    """How `from_dict` turns a field's JSON value into what the model takes, if not as is."""
    nested, is_list = _nested_model(annotation)
    if nested is not None:
        item_hook = conv.get_structure_hook(nested)
        if is_list:
            return _structure_list(item_hook, nested)
        return lambda value: item_hook(value, nested)
    mapped = _mapped_lists_model(annotation)
    if mapped is not None:
        return _structure_mapped_lists(_structure_list(conv.get_structure_hook(mapped), mapped))
    if lenient:  # what the server sends: an int may come as an integral float
        target = _optional_target(annotation)
        if target is int:
            return _integral
        if typing.get_origin(target) is Mapping and typing.get_args(target)[1] is int:
            return _integral_values
    return None


def _make_structure_hook(conv: cattrs.Converter, cls: type) -> Callable[[Any, type], Any]:
    """Strict for what the caller builds (an unknown key is an error with a hint);
    lenient for a read model, which keeps unknown keys in its `extra` mapping."""
    lenient = cls in _READ_MODELS
    by_key: dict[str, tuple[str, _ValueHook | None]] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if (cls, field.name) in _NOT_ON_WIRE or (lenient and field.name == _EXTRA):
            continue
        key = _RENAMED.get((cls, field.name), field.name)
        by_key[key] = (field.name, _value_hook(conv, field.type, lenient))
        if field.default is attrs.NOTHING:
            required.append(key)
    aliases = {alias: key for (owner, alias), key in _ALIASES.items() if owner is cls}
    for alias, key in aliases.items():
        by_key[alias] = by_key[key]
    known = sorted(by_key)
    required_names = [(key, by_key[key][0]) for key in required]

    def structure(data: object, _: type) -> object:
        if data.__class__ is not dict and not isinstance(data, Mapping):
            raise ValidationError(f"must be a JSON object, got {type(data).__name__}")
        kwargs: dict[str, object] = {}
        unknown: list[str] | None = None  # made when needed: most calls need neither
        extra: dict[str, object] | None = None
        for key, value in data.items():
            entry = by_key.get(key)
            if entry is None:
                if lenient:
                    if extra is None:
                        extra = {}
                    extra[key] = value
                elif unknown is None:
                    unknown = [str(key)]
                else:
                    unknown.append(str(key))
                continue
            if value is None:  # the API and the official SDK send null for "not set"
                continue
            name, hook = entry
            if hook is not None:
                try:
                    value = hook(value)
                except ValidationError as error:
                    raise error.under(key) from error.__cause__
            if aliases and name in kwargs and kwargs[name] != value:
                raise ValidationError(
                    f"is given twice, as {name!r} and as {key!r}, with different values",
                    field=name,
                )
            kwargs[name] = value
        if unknown:
            raise _unknown_keys_error(cls, unknown, known)
        for key, name in required_names:
            if name not in kwargs:
                raise ValidationError("is required", field=key)
        if extra:
            kwargs[_EXTRA] = extra
        return cls(**kwargs)

    return structure


def _unknown_keys_error(cls: type, unknown: list[str], known: list[str]) -> ValidationError:
    import difflib  # only for this error's hint: 1 ms off `import moesifapi`

    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key.lower(), known, n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    noun = "key" if len(unknown) == 1 else "keys"
    return ValidationError(
        f"unknown {noun} {', '.join(hints)} for {cls.__name__}",
        field=unknown[0] if len(unknown) == 1 else None,
    )


def _build_converter() -> cattrs.Converter:
    import cattrs

    global _CONVERTER
    conv = cattrs.Converter()
    for cls in _MODEL_CLASSES:  # models, and so subclasses of them, use our hooks
        conv.register_unstructure_hook(cls, _UNSTRUCTURE[cls])
    for cls in _MODEL_CLASSES:  # inner classes first, so their hooks exist
        conv.register_structure_hook(cls, _make_structure_hook(conv, cls))
    _CONVERTER = conv
    return conv


# --- the public helpers ---


def to_dict(model: attrs.AttrsInstance) -> dict[str, object]:
    """The model as the API's JSON object: underscore keys, unset fields left out.

    Timestamps become ``Z`` strings and `bytes` bodies base64; values inside metadata
    and bodies stay as they are until `to_json`.

    >>> from moesifapi import UserModel
    >>> to_dict(UserModel(user_id="u1", metadata={"plan": "free"}))
    {'user_id': 'u1', 'metadata': {'plan': 'free'}}
    """
    return _unstructure_hook(model.__class__)(model)


def _written_in_c(model: attrs.AttrsInstance) -> bytes | None:
    """The C writer's bytes for `model` (right-sized), or None where it is off (no
    speed-up, or the standard library encodes) or declines the model."""
    if _encode_model is None or _dumps is not _dumps_fast:
        return None
    return _encode_model(model, _PLANS, MAX_JSON_DEPTH)


def encode_item(model: attrs.AttrsInstance) -> bytes:
    """One model as compact UTF-8 JSON bytes."""
    out = _written_in_c(model)
    return out if out is not None else _encode_item_py(model)


def encode_item_sized(model: attrs.AttrsInstance) -> bytes:
    """`encode_item`, in bytes of exactly its size: what a queue keeps. The C writer's
    bytes are; orjson hands back its whole working buffer (4 KiB for a 1.2 KB
    event), so its bytes are copied."""
    out = _written_in_c(model)
    return out if out is not None else bytes(memoryview(_encode_item_py(model)))


def _encode_item_py(model: attrs.AttrsInstance) -> bytes:
    """`encode_item` without the C writer: the model's hook, then `_dumps`."""
    cls = model.__class__
    hook = _UNSTRUCTURE.get(cls) or _unstructure_hook(cls)
    return _dumps(hook(model))


# `encode_many` works on this many items at a time: fetching hooks and encoding in
# comprehensions, and looking for orjson's nulls with one search over their bytes.
_CHUNK_ITEMS = 64


def encode_many(models_: Iterable[attrs.AttrsInstance]) -> tuple[bytes, list[int]]:
    """Models as one JSON array, each encoded once, and the size of each item.

    The array is ``[a,b,c]``, so item ``i`` starts right after the bracket and the
    commas before it: a sub-batch is a slice, never re-encoded. Chunks of items are
    written into one `io.BytesIO`, whose `getvalue` hands over its buffer without a
    copy: for a 10,000-event batch, a copy of 11 MB costs a sixth of the encoding.
    Errors name the item's index.
    """
    if _encode_models is not None and _dumps is _dumps_fast:
        # Each item by the C writer, or where it declines by `_encode_item_at`.
        listed = models_ if isinstance(models_, list) else list(models_)
        return _encode_models(listed, _PLANS, MAX_JSON_DEPTH, _encode_item_at)
    items = models_ if isinstance(models_, (list, tuple)) else list(models_)
    out = io.BytesIO()
    out.write(b"[")
    sizes: list[int] = []
    for first in range(0, len(items), _CHUNK_ITEMS):
        joined, encoded = _encode_chunk(items[first : first + _CHUNK_ITEMS], first)
        sizes += map(len, encoded)
        out.write(joined)
        out.write(b",")
    if sizes:
        out.seek(-1, io.SEEK_END)  # the last comma becomes the closing "]"
    out.write(b"]")
    return out.getvalue(), sizes


def _encode_chunk(chunk: Sequence[attrs.AttrsInstance], first: int) -> tuple[bytes, list[bytes]]:
    """The models of `chunk` as `_dumps` encodes them, joined with commas and one by
    one; `first` is the index of the first in the batch.

    The common case runs in two comprehensions. Anything else (a class without a
    registered hook, a value orjson declines, a bad value) sends the chunk through
    `_encode_item_at`, one item at a time, which also names the index in an error.
    """
    hooks = _UNSTRUCTURE
    try:
        data = [hooks[model.__class__](model) for model in chunk]
        encoded = _dump_all(data)
    except (KeyError, TypeError, ValidationError):
        encoded = [_encode_item_at(model, first + offset) for offset, model in enumerate(chunk)]
        return b",".join(encoded), encoded
    return _checked_chunk(data, encoded, first)


def _dump_all(data: list[Any]) -> list[bytes]:
    """Each of `data` (wire dicts) as `_dumps` writes it, before the checks of
    `_checked_chunk`; raises TypeError (orjson declined one) or ValidationError."""
    dumps = _dumps
    if dumps is _dumps_fast:
        opts = _ORJSON_OPTIONS
        return [_orjson.dumps(item, default=_encode_extra, option=opts) for item in data]
    return [dumps(item) for item in data]


def _checked_chunk(data: list[Any], encoded: list[bytes], first: int) -> tuple[bytes, list[bytes]]:
    """`encoded` (from `_dump_all(data)`) joined, after orjson's output is checked for
    nesting too deep and for a NaN written as null, errors naming the item's index."""
    joined = b",".join(encoded)
    if _dumps is not _dumps_fast:
        return joined, encoded
    # Each item's brackets counted (a chunk's own count is nearly always over the
    # limit, so counting it first would read every byte twice); a deeper one walked.
    for offset in _over_opening(encoded, MAX_JSON_DEPTH):
        found = _locate_unencodable(data[offset], "")
        if found:
            raise found.under(f"[{first + offset}]") from None
    # `_dumps_fast`'s guard against NaN written as null, one search for the chunk.
    if _has_null(joined):
        changed = False
        for offset, item in enumerate(data):
            try:
                checked = _checked(item, encoded[offset])
            except ValidationError as error:
                raise error.under(f"[{first + offset}]") from error.__cause__
            changed = changed or checked != encoded[offset]
            encoded[offset] = checked
        if changed:
            joined = b",".join(encoded)
    return joined, encoded


def _encode_item_at(model: attrs.AttrsInstance, index: int) -> bytes:
    """`encode_item` for item `index` of a batch, errors naming the index. (It runs
    where the C writer is off or has declined the item, so it does not try that.)"""
    cls = model.__class__
    if not attrs.has(cls):
        raise ValidationError(f"expected a model, got {cls.__name__}", field=f"[{index}]")
    try:
        return _encode_item_py(model)
    except ValidationError as error:
        raise error.under(f"[{index}]") from error.__cause__


def to_json(models_: attrs.AttrsInstance | Iterable[attrs.AttrsInstance]) -> bytes:
    """A model, or a sequence of them as a JSON array, as the bytes sent on the wire.

    >>> from moesifapi import UserModel
    >>> to_json([UserModel(user_id="a"), UserModel(user_id="b")])
    b'[{"user_id":"a"},{"user_id":"b"}]'
    """
    if not isinstance(models_, Iterable):
        return encode_item(models_)
    if isinstance(models_, (Mapping, str, bytes)):  # would be iterated into garbage
        raise ValidationError(
            f"to_json takes a model or a sequence of models, got {type(models_).__name__}"
            " (build a model from a dict with from_dict)"
        )
    return encode_many(models_)[0]


def from_dict(cls: type[M], data: Mapping[str, object]) -> M:
    """Build and validate a model from the API's JSON object.

    Accepts what the API and the official SDK send: null for unset fields, naive or
    offset timestamps. An unknown key is a ValidationError naming it, so a misspelled
    field is never dropped silently.

    >>> from moesifapi import UserModel
    >>> from_dict(UserModel, {"user_id": "u1", "company_id": None})
    UserModel(user_id='u1', company_id=None, modified_time=None, ip_address=None, \
session_token=None, user_agent_string=None, campaign=None, metadata=None)
    """
    model: M = converter().structure(data, cls)
    return model


def coerce(cls: type[M], item: M | Mapping[str, object]) -> M:
    """`item` if it is already a `cls`, else a `cls` validated from a wire-format dict."""
    if isinstance(item, cls):
        return item
    if item.__class__ is dict or isinstance(item, Mapping):
        return from_dict(cls, item)
    raise ValidationError(
        f"expected a {cls.__name__} or a dict in the wire format, got {type(item).__name__}"
    )


def coerce_all(cls: type[M], items: Sequence[M | Mapping[str, object]]) -> list[M]:
    """Each item through `coerce`, errors naming the item's index."""
    out = list(items)
    for index, item in enumerate(out):
        if item.__class__ is cls:  # already a model: the common case costs one check
            continue
        try:
            out[index] = coerce(cls, item)
        except ValidationError as error:
            raise error.under(f"[{index}]") from error.__cause__
    return out  # type: ignore[return-value]


# --- wire dicts straight to bytes: validated by the models' rules, no model built ---
#
# A write method given a plain dict used to build the attrs model (from_dict) only to
# turn it back into a dict: most of the cost of a batch of dicts. `encode_input` and
# `encode_inputs` check such a dict against the model's own fields instead, with code
# written out per model class from the same attrs fields, validators and converters
# the model uses: each validator is mapped to a check that takes only values the
# validator takes as they are (exact `str`, `int`, `dict`, `list`; times already in
# the API's form or normalised by the model's own converter). Anything else — a
# missing or unknown key, a wrong type, a bytes body, a subclass, a Mapping that is
# not a dict — sends the whole input through the model path (`coerce`, `encode_item`),
# which raises its ValidationError or writes the bytes. So the two paths cannot
# disagree: the fast one only ever accepts what the model accepts, builds the dict the
# model's unstructure hook would (same keys, same order, the same value objects), and
# encodes it with the same functions. A field whose validator has no fast check makes
# its model (and the models holding it) always take the model path.


class _NotFast(Exception):
    """The input needs the model path, which decides and words any error."""


def _not_fast() -> typing.NoReturn:
    raise _NotFast


# "YYYY-MM-DDTHH:MM:SS" of times already seen in the API's form and read as they are:
# another time of the same second with any three ASCII digits of milliseconds and a
# "Z" is its own wire text, with no parse. Bounded; a race at worst parses twice.
_FAST_SECONDS: set[str] = set()
_FAST_SECONDS_LIMIT = 4096
_MILLIS_SUFFIXES = frozenset(_MILLIS_TEXT)


def _model_time_text(value: datetime) -> str:
    """A model time's wire text, as the unstructure hooks write it."""
    if SPEEDUPS:
        text: str | None = _speedups.utc_millis(value)
        if text is not None:
            return text
    return _format_model_time(value)


def _fast_time(value: object) -> str:
    """The wire text of a time field given `value`: the model's converter, then the
    validator's common case (a `datetime` in UTC); anything else is not fast."""
    if value is None:
        raise _NotFast
    converted: object = models._to_utc_millis(value)  # type: ignore[arg-type]
    if converted.__class__ is not datetime or converted.tzinfo is not _UTC:
        raise _NotFast
    text = _model_time_text(converted)
    if value.__class__ is str and text == value:  # the API's form, read as it is
        if len(_FAST_SECONDS) >= _FAST_SECONDS_LIMIT:
            _FAST_SECONDS.clear()
        _FAST_SECONDS.add(text[:19])
    return text


def _fast_links(value: list[object]) -> bool:
    """`models._span_links`' common case: span ids and dicts with text keys."""
    for link in value:
        if link.__class__ is not str and (
            link.__class__ is not dict or not models._text_keys(link)
        ):
            return False
    return True


_BINARY = (bytes, bytearray, memoryview)
_RAISE = "    raise _NotFast"
# With orjson, keys are left to it: it refuses any key that is not a `str`, and then
# the model path decides. The standard library takes more, so without orjson (`strict`)
# the fast checks test keys themselves.
_HEADERS_CHECK = {
    True: [
        "if {0}.__class__ is not dict:",
        _RAISE,
        "for k_, t_ in {0}.items():",  # `models._text_items`, inlined
        "    if k_.__class__ is not str or t_.__class__ is not str:",
        "        raise _NotFast",
    ],
    False: [
        "if {0}.__class__ is not dict:",
        _RAISE,
        "for t_ in {0}.values():",
        "    if t_.__class__ is not str:",
        "        raise _NotFast",
    ],
}
if _speedups is not None:  # one C call for the loop, and the dict test with it
    _HEADERS_CHECK = {
        True: ["if not _str_items({0}):", _RAISE],
        False: ["if not _str_values({0}):", _RAISE],
    }
_OBJECT_CHECK = {
    True: [
        "if {0}.__class__ is not dict:",
        _RAISE,
        "for k_ in {0}:",  # `models._text_keys`, inlined
        "    if k_.__class__ is not str:",
        "        raise _NotFast",
    ],
    False: ["if {0}.__class__ is not dict:", _RAISE],
}

# Each model validator with its fast check on the local `{0}` (lines that raise
# _NotFast for a value to leave to the model), and the converters it may follow.
_FAST_CHECKS: dict[object, tuple[list[str] | dict[bool, list[str]], tuple[object, ...]]] = {
    models._required_text: (["if {0}.__class__ is not str or not {0}.strip():", _RAISE], ()),
    models._optional_text: (["if {0}.__class__ is not str:", _RAISE], ()),
    models._status: (["if {0}.__class__ is not int or not 100 <= {0} <= 599:", _RAISE], ()),
    models._direction: (["if {0}.__class__ is not str or {0} not in _DIRECTIONS:", _RAISE], ()),
    models._weight: (["if {0}.__class__ is not int or {0} < 0:", _RAISE], ()),
    models._optional_count: (["if {0}.__class__ is not int or {0} < 0:", _RAISE], ()),
    models._optional_int: (["if {0}.__class__ is not int:", _RAISE], ()),
    models._optional_object: (_OBJECT_CHECK, ()),
    models._span_links: (["if {0}.__class__ is not list or not _fast_links({0}):", _RAISE], ()),
    models._headers: (_HEADERS_CHECK, (models._join_headers,)),
    models._optional_headers: (_HEADERS_CHECK, (models._to_optional_headers,)),
}
_TIME_CHECK = [
    "if {0}.__class__ is not str or {0}[:19] not in _FAST_SECONDS"
    " or {0}[19:] not in _MILLIS_SUFFIXES:",
    "    {0} = _fast_time({0})",
]
for _validator in (models._time, models._optional_time):
    _FAST_CHECKS[_validator] = (
        _TIME_CHECK,
        (models._to_utc_millis, models._to_optional_utc_millis),
    )
# Kinds of check that refuse None, so may stand for a required field.
_REFUSE_NONE = frozenset({models._required_text, models._status, models._headers, models._time})
# Models whose `__attrs_post_init__` is `_normalize_body`: a bytes body or a base64
# transfer encoding is left to the model, which converts it.
_BODY_MODELS = (models.EventRequestModel, models.EventResponseModel)

_FastFn = Callable[[dict[str, Any]], dict[str, Any]]
_FAST: dict[tuple[type, bool], _FastFn | None] = {}


def _fast_fn(cls: type, strict: bool) -> _FastFn | None:
    """The fast function of `cls` (`strict`: testing keys), written on first use;
    None when it has none."""
    try:
        return _FAST[cls, strict]
    except KeyError:
        pass
    fn = _FAST[cls, strict] = _make_fast_fn(cls, strict)
    return fn


def _fast_field_lines(
    cls: type, field: attrs.Attribute[Any], local: str, namespace: dict[str, Any], strict: bool
) -> list[str] | None:
    """Lines that check the value in `local` and leave its wire value there; None when
    the field has no fast check."""
    validator, converter_ = field.validator, field.converter
    nested, is_list = _nested_model(field.type)
    qualname = getattr(validator, "__qualname__", "")
    if nested is not None and qualname in (
        "_instance_of.<locals>.check",
        "_required_instance_of.<locals>.check",
        "_list_of.<locals>.check",
    ):
        if (qualname == "_list_of.<locals>.check") is not is_list or converter_ is not None:
            return None
        if is_list:
            inner = _fast_fn(nested, strict)
            if inner is None:
                return None
            name = f"_fast_{nested.__name__}"
            namespace[name] = inner
            return [
                f"if {local}.__class__ is not list:",
                _RAISE,
                f"{local} = [{name}(x) if x.__class__ is dict else _not_fast() for x in {local}]",
            ]
        lines = _fast_lines(nested, local, f"w__{local}", namespace, strict)  # inline
        if lines is None:
            return None
        return [f"if {local}.__class__ is not dict:", _RAISE, *lines, f"{local} = w__{local}"]
    if field.name == "body" and validator is None and converter_ is None and cls in _BODY_MODELS:
        return [f"if {local}.__class__ is not dict and isinstance({local}, _BINARY):", _RAISE]
    entry = _FAST_CHECKS.get(validator)
    if entry is None:
        return None
    template, converters = entry
    if (converter_ is None) is bool(converters) or (converter_ and converter_ not in converters):
        return None  # the model converts what the check does not expect, or the reverse
    if isinstance(template, dict):
        template = template[strict]
    lines = [line.format(local) for line in template]
    if field.name == "transfer_encoding" and cls in _BODY_MODELS:
        lines += [f"if {local} == 'base64':", _RAISE]  # decoded by the model
    return lines


def _fast_lines(
    cls: type, obj: str, out: str, namespace: dict[str, Any], strict: bool
) -> list[str] | None:
    """Lines that check the dict in the local `obj` as a `cls` and set the local `out`
    to the wire dict `cls`'s unstructure hook would write; None when `cls` has no fast
    path. Keys and their order are `_dict_source`'s: fields always present (required,
    or with a factory) first, then the optional ones that are set."""
    if cls in _READ_MODELS or not attrs.has(cls) or hasattr(cls, "__attrs_pre_init__"):
        return None
    if hasattr(cls, "__attrs_post_init__") and cls not in _BODY_MODELS:
        return None
    attrs.resolve_types(cls, globalns=vars(models))
    count = f"n__{obj}"  # how many of the keys of `obj` were read (no field's local)
    required = 0
    before: list[str] = []
    always: list[str] = []
    optional: list[str] = []
    for field in attrs.fields(cls):
        if (cls, field.name) in _NOT_ON_WIRE:
            return None
        key = _RENAMED.get((cls, field.name), field.name)
        local = f"{obj}_{field.name}"
        checks = _fast_field_lines(cls, field, local, namespace, strict)
        if checks is None:
            return None
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self or field.validator is not models._required_text:
                return None
            factory = f"_factory_{cls.__name__}_{field.name}"
            namespace[factory] = default.factory
            before += [f"if {key!r} in {obj}:", f"    {count} += 1"]
            before += [f"    {local} = {obj}[{key!r}]", f"    if {local} is None:"]
            before += [f"        {local} = {factory}()", "else:", f"    {local} = {factory}()"]
            before += checks
            always.append(f"{key!r}: {local}")
        elif default is attrs.NOTHING:
            if field.validator not in _REFUSE_NONE and _nested_model(field.type)[0] is None:
                return None
            before += [f"{local} = {obj}.get({key!r})", *checks]  # a None is not fast
            required += 1
            always.append(f"{key!r}: {local}")
        elif default is None:  # most are absent: one `in` test each
            optional += [
                f"if {key!r} in {obj}:",
                f"    {count} += 1",
                f"    {local} = {obj}[{key!r}]",
            ]
            optional += [f"    if {local} is not None:"]
            optional += [f"        {line}" for line in checks]
            optional.append(f"        {out}[{key!r}] = {local}")
        else:
            return None
    # Every key is read once, so a key left over is one no field is for.
    return [
        f"{count} = {required}",
        *before,
        f"{out} = {{{', '.join(always)}}}",
        *optional,
        f"if {count} != len({obj}):",
        _RAISE,
    ]


def _make_fast_fn(cls: type, strict: bool) -> _FastFn | None:
    """The fast function of `cls`: a wire dict checked as a `cls` to the wire dict its
    model would write, or `_NotFast` raised."""
    namespace: dict[str, Any] = {
        "_NotFast": _NotFast,
        "_not_fast": _not_fast,
        "_fast_time": _fast_time,
        "_fast_links": _fast_links,
        "_text_items": models._text_items,
        "_text_keys": models._text_keys,
        "_FAST_SECONDS": _FAST_SECONDS,
        "_MILLIS_SUFFIXES": _MILLIS_SUFFIXES,
        "_DIRECTIONS": models._DIRECTIONS,
        "_BINARY": _BINARY,
    }
    if _speedups is not None:
        namespace["_str_items"] = _speedups.str_items
        namespace["_str_values"] = _speedups.str_values
    body = _fast_lines(cls, "d", "res", namespace, strict)
    if body is None:
        return None
    function = f"fast_{cls.__name__}"
    source = f"def {function}(d):\n{_indent([*body, 'return res'], 1)}"
    exec(compile(source, f"<moesifapi._wire {function}>", "exec"), namespace)
    fn: _FastFn = namespace[function]
    return fn


def encode_input(cls: type[M], item: M | Mapping[str, object]) -> bytes:
    """`encode_item(coerce(cls, item))`: a model, or a wire-format dict validated as
    `cls` validates it, as compact JSON bytes; a plain dict builds no model."""
    if item.__class__ is dict:
        strict = _dumps is not _dumps_fast
        fast = _FAST.get((cls, strict)) or _fast_fn(cls, strict)
        if fast is not None:
            try:
                data = fast(item)
                if strict:
                    return _dumps(data)
                out: bytes = _orjson.dumps(data, default=_encode_extra, option=_ORJSON_OPTIONS)
            except Exception:  # anything unusual: the model path decides and words it
                pass
            else:  # what `_dumps_fast` does once orjson has written it
                _refuse_too_deep(data, out)
                return _checked(data, out)
    return encode_item(coerce(cls, item))


class _Redo(Exception):
    """An item of `encode_inputs` was refused: the batch goes the model path."""


@functools.cache
def _one_input(cls: type) -> Callable[[object, int], bytes]:
    """`encode_input(cls, item)` for the C writer's fallback, raising `_Redo` for
    whatever it refuses."""

    def encode(item: object, index: int) -> bytes:
        try:
            if item.__class__ is cls:  # a model the writer declined: not tried again
                return _encode_item_py(item)  # type: ignore[arg-type]
            return encode_input(cls, item)  # type: ignore[arg-type]
        except Exception:
            raise _Redo from None

    return encode


def encode_inputs(
    cls: type[M], items: Sequence[M | Mapping[str, object]]
) -> tuple[bytes, list[int]]:
    """`encode_many(coerce_all(cls, items))`: models and wire-format dicts as one JSON
    array and the size of each item; the dicts are validated without building models.

    When any item is not what the fast checks take as it is, orjson declines any, or
    any is refused, the whole batch takes the model path, which raises the first error
    it would have raised (the index named) or writes the same bytes.
    """
    if not isinstance(items, list):
        items = list(items)
    strict = _dumps is not _dumps_fast
    fast = _FAST.get((cls, strict)) or _fast_fn(cls, strict)
    hook = _UNSTRUCTURE.get(cls)
    if fast is None or hook is None:
        return encode_many(coerce_all(cls, items))
    only = _ONE_PLAN.get(cls)
    if only is not None and _encode_models is not None and not strict:
        # Models of `cls` by the C writer; the rest (dicts, and what it declines) one
        # at a time. Any of those refused: the model path, for its first error.
        try:
            return _encode_models(items, only, MAX_JSON_DEPTH, _one_input(cls))
        except _Redo:
            return encode_many(coerce_all(cls, items))
    out = io.BytesIO()
    out.write(b"[")
    sizes: list[int] = []
    # Chunk by chunk, so the dicts built die young (cheap for the garbage collector)
    # and orjson's buffers are reused; a later chunk's error still comes out first if
    # the model path would raise it first, as any failure starts over on that path.
    for first in range(0, len(items), _CHUNK_ITEMS):
        try:
            data = [
                fast(item)
                if item.__class__ is dict
                else hook(item)
                if item.__class__ is cls
                else _not_fast()
                for item in items[first : first + _CHUNK_ITEMS]
            ]
            encoded = _dump_all(data)
            joined, encoded = _checked_chunk(data, encoded, first)
        except Exception:  # not fast, declined or refused: the model path decides
            return encode_many(coerce_all(cls, items))
        sizes += map(len, encoded)
        out.write(joined)
        out.write(b",")
    if sizes:
        out.seek(-1, io.SEEK_END)
    out.write(b"]")
    return out.getvalue(), sizes
