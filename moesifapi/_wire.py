"""The wire format: models to the Collector API's underscore JSON and back.

One cattrs converter, built at import time, owns both directions; the JSON encoding
rules (UTC ``Z`` timestamps, base64 bytes, encodable metadata) live here and nowhere else.
"""

from __future__ import annotations

import base64
import difflib
import enum
import json
import math
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from . import models
from .exceptions import ValidationError

__all__ = ["encode_item", "format_timestamp", "from_dict", "to_dict", "to_json"]

M = TypeVar("M", bound=attrs.AttrsInstance)

_UTC = timezone.utc

# Read models describe server answers: a key the server adds later must not break us.
_READ_MODELS: frozenset[type] = frozenset({models.AppConfig, models.GovernanceRule})
# Attribute names that differ from their JSON key.
_RENAMED: dict[tuple[type, str], str] = {(models.GovernanceRule, "id"): "_id"}
# Attributes that are not part of the JSON body at all.
_NOT_ON_WIRE: frozenset[tuple[type, str]] = frozenset({(models.AppConfig, "etag")})

_MODEL_CLASSES: tuple[type, ...] = (
    models.EventRequestModel,
    models.EventResponseModel,
    models.EventModel,
    models.CampaignModel,
    models.UserModel,
    models.CompanyModel,
    models.ActionRequestModel,
    models.ActionModel,
    models.SubscriptionItemModel,
    models.SubscriptionModel,
    models.AppConfig,
    models.GovernanceRule,
)

converter = cattrs.Converter()


# --- encoding values ---


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``; naive values are taken as UTC.

    >>> format_timestamp(datetime(2024, 5, 1, 12, 0, 0, 123456))
    '2024-05-01T12:00:00.123Z'
    """
    if value.tzinfo is not _UTC:
        value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def _encode_body(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


class _Unencodable(TypeError):
    """Raised from inside `json.dumps`; turned into a ValidationError with a path."""


def _encode_extra(value: object) -> object:
    """What JSON lacks: how metadata and bodies carry datetimes, decimals, ids, enums."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Unencodable(f"{value} is not a finite number")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return to_dict(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping):  # metadata is typed `Mapping`; json only takes a dict
        return dict(value)
    raise _Unencodable(_unencodable_reason(value))


def _unencodable_reason(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, (set, frozenset)):
        return f"a {kind} is not JSON; pass a list instead"
    if isinstance(value, (bytes, bytearray)):
        return f"{kind} inside metadata or a JSON body is not JSON; decode or base64 it first"
    return f"a {kind} is not JSON-encodable"


def _dumps(data: object) -> bytes:
    """Compact UTF-8 JSON; anything it cannot encode is a ValidationError with its path."""
    try:
        return json.dumps(
            data,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            default=_encode_extra,
        ).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise _locate_unencodable(data, "") or ValidationError(str(error)) from error


def _locate_unencodable(value: object, path: str) -> ValidationError | None:
    """The first value under `value` that JSON cannot carry, as an error naming it."""
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return ValidationError("contains a lone surrogate; not valid UTF-8", field=path)
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return ValidationError(f"{value} is not a finite number", field=path or None)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return ValidationError(f"key {key!r} is not a string", field=path or None)
            found = _locate_unencodable(item, f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _locate_unencodable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    try:
        replacement = _encode_extra(value)
    except _Unencodable as error:
        return ValidationError(str(error), field=path or None)
    return _locate_unencodable(replacement, path)


# --- unstructuring: models -> dicts of JSON values ---


def _identity(value: object) -> object:
    return value


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


def _unstructure_list(hook: Callable[[Any], object]) -> Callable[[list[Any]], list[object]]:
    return lambda items: [hook(item) for item in items]


def _unstructure_override(cls: type, field: attrs.Attribute[Any]) -> Any:
    key = _RENAMED.get((cls, field.name))
    if (cls, field.name) in _NOT_ON_WIRE:
        return override(omit=True)
    nested, is_list = _nested_model(field.type)
    if nested is not None:
        hook = converter.get_unstructure_hook(nested)
        if is_list:
            return override(rename=key, unstruct_hook=_unstructure_list(hook))
        return override(rename=key, unstruct_hook=hook)
    if _optional_target(field.type) is datetime:
        return override(rename=key, unstruct_hook=format_timestamp)
    if field.name == "body":
        return override(rename=key, unstruct_hook=_encode_body)
    # A field with a factory default (transaction_id) is always set; comparing it with
    # a fresh default would mint a throwaway UUID for every item encoded.
    has_factory = isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
    # Strings, numbers, headers and metadata are already JSON values (or encoded by
    # `_encode_extra` at dump time): pass them through without a walk.
    return override(
        rename=key, unstruct_hook=_identity, omit_if_default=False if has_factory else None
    )


def _register_unstructure_hooks() -> None:
    for cls in _MODEL_CLASSES:  # inner classes come first, so their hooks exist
        attrs.resolve_types(cls, globalns=vars(models))
        overrides = {f.name: _unstructure_override(cls, f) for f in attrs.fields(cls)}
        hook: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, converter, _cattrs_omit_if_default=True, **overrides
        )
        converter.register_unstructure_hook(cls, hook)


# --- structuring: dicts -> models, with errors that name the key ---


def _structure_list(item_hook: Callable[[Any, type], Any], item_cls: type) -> Any:
    def structure(value: object, _: type) -> list[object]:
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


def _make_structure_hook(cls: type) -> Callable[[Any, type], Any]:
    lenient = cls in _READ_MODELS
    by_key: dict[str, tuple[str, Callable[[Any, type], Any] | None, type | None]] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if (cls, field.name) in _NOT_ON_WIRE:
            continue
        key = _RENAMED.get((cls, field.name), field.name)
        nested, is_list = _nested_model(field.type)
        hook: Callable[[Any, type], Any] | None = None
        if nested is not None:
            item_hook = converter.get_structure_hook(nested)
            hook = _structure_list(item_hook, nested) if is_list else item_hook
        by_key[key] = (field.name, hook, nested)
        if field.default is attrs.NOTHING:
            required.append(key)
    known = sorted(by_key)

    def structure(data: object, _: type) -> object:
        if not isinstance(data, Mapping):
            raise ValidationError(f"must be a JSON object, got {type(data).__name__}")
        kwargs: dict[str, object] = {}
        unknown: list[str] = []
        for key, value in data.items():
            entry = by_key.get(key)
            if entry is None:
                if not lenient:
                    unknown.append(str(key))
                continue
            if value is None:  # the API and the official SDK send null for "not set"
                continue
            name, hook, nested = entry
            if hook is not None:
                try:
                    value = hook(value, nested)  # type: ignore[arg-type]
                except ValidationError as error:
                    raise error.under(key) from error.__cause__
            kwargs[name] = value
        if unknown:
            raise _unknown_keys_error(cls, unknown, known)
        missing = [key for key in required if by_key[key][0] not in kwargs]
        if missing:
            raise ValidationError("is required", field=missing[0])
        return cls(**kwargs)

    return structure


def _unknown_keys_error(cls: type, unknown: list[str], known: list[str]) -> ValidationError:
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key.lower(), known, n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    noun = "key" if len(unknown) == 1 else "keys"
    return ValidationError(
        f"unknown {noun} {', '.join(hints)} for {cls.__name__}",
        field=unknown[0] if len(unknown) == 1 else None,
    )


def _register_structure_hooks() -> None:
    for cls in _MODEL_CLASSES:
        converter.register_structure_hook(cls, _make_structure_hook(cls))


_register_unstructure_hooks()
_register_structure_hooks()


# --- the public helpers ---


def to_dict(model: attrs.AttrsInstance) -> dict[str, object]:
    """The model as the API's JSON object: underscore keys, unset fields left out.

    Timestamps become ``Z`` strings and `bytes` bodies base64; values inside metadata
    and bodies stay as they are until `to_json`.

    >>> from moesifapi import UserModel
    >>> to_dict(UserModel(user_id="u1", metadata={"plan": "free"}))
    {'user_id': 'u1', 'metadata': {'plan': 'free'}}
    """
    data: dict[str, object] = converter.unstructure(model)
    return data


def encode_item(model: attrs.AttrsInstance) -> bytes:
    """One model as compact UTF-8 JSON bytes."""
    return _dumps(converter.unstructure(model))


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
    parts = []
    for index, model in enumerate(models_):
        if not attrs.has(type(model)):
            raise ValidationError(
                f"expected a model, got {type(model).__name__}", field=f"[{index}]"
            )
        try:
            parts.append(encode_item(model))
        except ValidationError as error:
            raise error.under(f"[{index}]") from error.__cause__
    return b"[" + b",".join(parts) + b"]"


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
    model: M = converter.structure(data, cls)
    return model


def coerce(cls: type[M], item: M | Mapping[str, object]) -> M:
    """`item` if it is already a `cls`, else a `cls` validated from a wire-format dict."""
    if isinstance(item, cls):
        return item
    if isinstance(item, Mapping):
        return from_dict(cls, item)
    raise ValidationError(
        f"expected a {cls.__name__} or a dict in the wire format, got {type(item).__name__}"
    )


def coerce_all(cls: type[M], items: Sequence[M | Mapping[str, object]]) -> list[M]:
    """Each item through `coerce`, errors naming the item's index."""
    out = []
    for index, item in enumerate(items):
        try:
            out.append(coerce(cls, item))
        except ValidationError as error:
            raise error.under(f"[{index}]") from error.__cause__
    return out
