"""Typed attrs models of every object the Moesif Collector API takes or returns.

Validation lives here: building a model with a value the API would reject raises
`ValidationError` naming the field. Turning models into JSON is `moesifapi._wire`'s job.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs

from . import _sampling
from ._timestamps import parse_timestamp
from ._wording import with_article
from .exceptions import ValidationError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ActionModel",
    "ActionRequestModel",
    "AppConfig",
    "CampaignModel",
    "CompanyModel",
    "Direction",
    "EntityRuleValues",
    "EventModel",
    "EventRequestModel",
    "EventResponseModel",
    "GovernanceResponse",
    "GovernanceRule",
    "HeadersInput",
    "Health",
    "RegexCondition",
    "RegexConditionGroup",
    "RegexSamplingRule",
    "RuleVariable",
    "SpanLink",
    "SpanModel",
    "StatusModel",
    "SubscriptionItemModel",
    "SubscriptionModel",
    "UserModel",
]

Direction: TypeAlias = Literal["Incoming", "Outgoing", "Internal"]
"""Which way an API call went, seen from the app that logged it."""

HeadersInput: TypeAlias = "Mapping[str, str] | Mapping[str, Sequence[str]] | httpx.Headers"
"""Headers as a plain mapping, a mapping of repeated values, or an `httpx.Headers`."""

SpanLink: TypeAlias = str | Mapping[str, object]
"""One of a span's links: a related span's id, or a link object (a JSON object)."""

_DIRECTIONS = frozenset(("Incoming", "Outgoing", "Internal"))
_UTC = timezone.utc


# --- converters: normalize what they can, hand anything else on for a validator to name ---


def _to_utc_millis(value: datetime | str) -> datetime:
    """An aware UTC datetime at millisecond precision, the API's resolution.

    Naive values are taken as UTC. Anything unparseable is returned as it came, so the
    field's validator can report it with the field's name.
    """
    if value.__class__ is datetime and value.tzinfo is _UTC:  # the common case first
        micros = value.microsecond % 1000
        return value - timedelta(microseconds=micros) if micros else value
    if isinstance(value, str):
        try:
            value = parse_timestamp(value)
        except (ValueError, OverflowError):
            return value  # type: ignore[return-value]
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    elif value.tzinfo is not _UTC:
        try:
            value = value.astimezone(_UTC)
        except Exception:  # out of range, or a custom tzinfo that fails: the validator names it
            return value
    micros = value.microsecond % 1000
    return value - timedelta(microseconds=micros) if micros else value


def _to_optional_utc_millis(value: datetime | str | None) -> datetime | None:
    return None if value is None else _to_utc_millis(value)


def _join_headers(value: HeadersInput) -> dict[str, str]:
    """Headers as the API wants them: one string per name, repeats joined by ", "."""
    if type(value) is dict and _text_values(value):
        return value  # the common case: already a dict of strings
    pairs: list[tuple[str, object]]
    raw_pairs = getattr(value, "raw", None)
    if raw_pairs is not None:  # httpx.Headers: keep each repeat and the original spelling
        encoding = getattr(value, "encoding", "latin-1")
        pairs = [(k.decode(encoding), v.decode(encoding)) for k, v in raw_pairs]
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        return value  # reported by the validator
    joined: dict[str, str] = {}
    lowered: dict[str, str] = {}  # lower-case name -> first spelling seen
    for name, raw in pairs:
        text = raw if isinstance(raw, str) else _join_values(raw)
        if not isinstance(name, str) or text is None:
            return value  # type: ignore[return-value]  # reported by the validator
        key = lowered.setdefault(name.lower(), name)
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return joined


# The checks below run on the headers and metadata of every event built (and of every
# wire dict sent), so each tests the exact type first: a loop of `is` tests costs less
# than `str.join` over the values (which copies them into one string to check them).
def _text_values(value: dict[Any, Any]) -> bool:
    """True if every value of the dict `value` is a `str`."""
    for text in value.values():
        if text.__class__ is not str and not isinstance(text, str):
            return False
    return True


def _text_keys(value: Iterable[object]) -> bool:
    """True if every key of `value` (a dict) is a `str`."""
    for key in value:  # noqa: SIM110 - a loop costs half of `all()` over a generator
        if key.__class__ is not str and not isinstance(key, str):
            return False
    return True


def _text_items(value: dict[Any, Any]) -> bool:
    """True if every name and value of the dict `value` is a `str`."""
    for name, text in value.items():
        if (name.__class__ is not str and not isinstance(name, str)) or (
            text.__class__ is not str and not isinstance(text, str)
        ):
            return False
    return True


def _join_values(raw: object) -> str | None:
    if (
        isinstance(raw, Sequence)
        and not isinstance(raw, (str, bytes))
        and all(isinstance(v, str) for v in raw)
    ):
        return ", ".join(raw)
    return None


def _to_optional_headers(value: HeadersInput | None) -> dict[str, str] | None:
    return None if value is None else _join_headers(value)


# Random bits for transaction ids: a generator of the library's own (an app seeding
# `random` for its tests must not make ids repeat across runs), seeded from the OS,
# and seeded again in a forked child (each worker its own ids). `getrandbits` is one
# call into C, so threads cannot interleave inside it.
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)

# The bits `uuid.uuid4` overwrites in 128 random ones: the version (4, in bits 76-79)
# and the variant (binary 10, in bits 62-63).
_UUID4_KEEP = ((1 << 128) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _uuid4_in_python() -> str:
    """A random UUID4 in its canonical text, as ``str(uuid.uuid4())`` writes it.

    Most events and actions get one: written from 128 random bits with the version
    and variant set, it takes a third of the time of a `uuid.UUID`, and no system call
    (`os.urandom` is one per id). Ids need to be unique, not secret: a request may
    bring its own.
    """
    h = f"{_ids.getrandbits(128) & _UUID4_KEEP | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The C speed-up writes the same text from the same bits, in a sixth of the time.
_uuid4_text: Callable[[int], str] | None
try:
    from ._speedups import uuid4_text as _uuid4_text
except ImportError:  # pragma: no cover - installed without a C compiler
    _uuid4_text = None
if os.environ.get("MOESIFAPI_PURE_PYTHON"):
    _uuid4_text = None


def _uuid4_in_c() -> str:
    assert _uuid4_text is not None
    return _uuid4_text(_ids.getrandbits(128))


_new_transaction_id: Callable[[], str] = _uuid4_in_python if _uuid4_text is None else _uuid4_in_c


# --- validators: each raises ValidationError naming the attribute ---


def _fail(attribute: attrs.Attribute[Any], reason: str) -> ValidationError:
    return ValidationError(reason, field=attribute.name)


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _required_text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is str and value.strip():
        return
    if isinstance(value, str):
        raise _fail(attribute, "must not be empty")
    if value is None:
        raise _fail(attribute, "is required (a string), got None")
    raise _fail(attribute, f"must be a string, got {_describe(value)}")


def _optional_text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is not str and value is not None and not isinstance(value, str):
        raise _fail(attribute, f"must be a string, got {_describe(value)}")


_ZERO = timedelta(0)


def _time(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is datetime and value.tzinfo is _UTC:  # what the converter makes
        return
    if value is None:
        raise _fail(attribute, "is required (a datetime or an ISO 8601 timestamp), got None")
    if not isinstance(value, datetime):
        raise _fail(
            attribute, f"must be a datetime or an ISO 8601 timestamp, got {_describe(value)}"
        )
    try:
        offset = value.utcoffset()
    except Exception as error:  # a custom tzinfo: raised, or gave an offset past 24 hours
        raise _fail(attribute, f"has a tzinfo whose utcoffset() fails: {error}") from error
    if offset != _ZERO:  # the converter could not bring it to UTC
        raise _fail(attribute, f"is out of range once converted to UTC, got {_describe(value)}")


def _optional_time(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _time(instance, attribute, value)


def _headers(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is dict and _text_items(value):
        return  # names and values all text; otherwise the loop below names the culprit
    if value is None:
        raise _fail(attribute, "is required (a mapping of header names to text), got None")
    if not isinstance(value, dict):
        raise _fail(attribute, f"must be a mapping of header names to text, got {_describe(value)}")
    for name, text in value.items():
        if not isinstance(name, str):
            raise _fail(attribute, f"header name {_describe(name)} is not a string")
        if not isinstance(text, str):
            raise ValidationError(
                f"header value must be text (or a list of text), got {_describe(text)}",
                field=f"{attribute.name}.{name}",
            )


def _optional_headers(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _headers(instance, attribute, value)


def _status(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        raise _fail(attribute, "is required (an int HTTP status code), got None")
    if type(value) is not int:
        raise _fail(attribute, f"must be an int HTTP status code, got {_describe(value)}")
    if not 100 <= value <= 599:
        raise _fail(attribute, f"must be between 100 and 599, got {value}")


def _direction(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and value in _DIRECTIONS):
        raise _fail(
            attribute, f"must be one of Incoming, Outgoing, Internal; got {_describe(value)}"
        )


def _weight(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    # 0 is valid: the middlewares send floor(100 / sample rate), 0 for "not sampled",
    # and the Java SDK sends a weight on every event.
    if value is not None and (type(value) is not int or value < 0):
        raise _fail(
            attribute, f"must be an int of 0 or more (a sampling weight), got {_describe(value)}"
        )


def _optional_count(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (type(value) is not int or value < 0):
        raise _fail(attribute, f"must be an int of 0 or more, got {_describe(value)}")


def _optional_bool(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise _fail(attribute, f"must be a bool, got {_describe(value)}")


def _optional_int(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (type(value) is not int):
        raise _fail(attribute, f"must be an int, got {_describe(value)}")


def _required_int(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int:
        if value is None:
            raise _fail(attribute, "is required (an int), got None")
        raise _fail(attribute, f"must be an int, got {_describe(value)}")


def _one_of(*choices: str) -> _Validator:
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not (isinstance(value, str) and value in allowed):
            raise _fail(attribute, f"must be one of {listed}; got {_describe(value)}")

    return check


def _optional_object(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or (type(value) is dict and _text_keys(value)):
        return  # a dict with text keys: the common case, one loop of type tests
    if not isinstance(value, Mapping):
        raise _fail(attribute, f"must be a JSON object (a mapping), got {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(attribute, f"keys must be strings, got {_describe(key)}")


def _object(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        raise _fail(attribute, "must be a JSON object (a mapping), got None")
    _optional_object(instance, attribute, value)


def _mapping_of(kind: type, noun: str, *, optional: bool = True) -> _Validator:
    """A mapping of text keys to values of `kind` (a `bool` is not an int here)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        _object(instance, attribute, value)
        for key, item in value.items():
            if type(item) is not kind:
                raise ValidationError(
                    f"must be {noun}, got {_describe(item)}", field=f"{attribute.name}.{key}"
                )

    return check


def _span_links(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _fail(
            attribute, f"must be a list of span ids or link objects, got {_describe(value)}"
        )
    for index, link in enumerate(value):
        if isinstance(link, str):
            continue
        if not isinstance(link, Mapping) or not all(isinstance(key, str) for key in link):
            raise ValidationError(
                f"must be a span id (a string) or a link object (a mapping with text keys),"
                f" got {_describe(link)}",
                field=f"{attribute.name}[{index}]",
            )


_Validator: TypeAlias = "Callable[[object, attrs.Attribute[Any], Any], None]"


def _instance_of(cls: type) -> _Validator:
    kind = with_article(cls.__name__)

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value.__class__ is not cls and value is not None and not isinstance(value, cls):
            raise _fail(attribute, f"must be {kind}, got {_describe(value)}")

    return check


def _required_instance_of(cls: type) -> _Validator:
    kind = with_article(cls.__name__)

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value.__class__ is cls:
            return
        if value is None:
            raise _fail(attribute, f"is required ({kind}), got None")
        if not isinstance(value, cls):
            raise _fail(attribute, f"must be {kind}, got {_describe(value)}")

    return check


def _list_of(cls: type, *, optional: bool = True) -> _Validator:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, list):
            raise _fail(attribute, f"must be a list of {cls.__name__}, got {_describe(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, cls):
                raise ValidationError(
                    f"must be {with_article(cls.__name__)}, got {_describe(item)}",
                    field=f"{attribute.name}[{index}]",
                )

    return check


def _normalize_body(model: EventRequestModel | EventResponseModel) -> None:
    """Keep `body` and `transfer_encoding` in step: bytes travel as base64.

    A `bytes` body sets ``transfer_encoding="base64"``; a string body that says it is
    base64 is decoded, so a model means the same whether built in code or parsed.
    """
    if isinstance(model.body, (bytes, bytearray, memoryview)):
        model.body = bytes(model.body)
        model.transfer_encoding = "base64"
    elif model.transfer_encoding == "base64":
        if not isinstance(model.body, str):
            raise ValidationError(
                "must be bytes or a base64 string when transfer_encoding is 'base64'",
                field="body",
            )
        try:
            model.body = base64.b64decode(model.body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationError("is not valid base64", field="body") from error


# --- the Collector's write models ---


@attrs.define(kw_only=True, eq=True)
class EventRequestModel:
    """The HTTP request half of an API call.

    >>> EventRequestModel(time="2024-05-01T12:00:00Z", uri="https://api.example.com/v1/items",
    ...                   verb="GET", headers={"Accept": "application/json"}).verb
    'GET'
    """

    time: datetime = attrs.field(converter=_to_utc_millis, validator=_time)
    uri: str = attrs.field(validator=_required_text)
    verb: str = attrs.field(validator=_required_text)
    headers: dict[str, str] = attrs.field(converter=_join_headers, validator=_headers)
    api_version: str | None = attrs.field(default=None, validator=_optional_text)
    ip_address: str | None = attrs.field(default=None, validator=_optional_text)
    body: object = None
    """A JSON value, or `bytes` (sent as base64 with ``transfer_encoding="base64"``)."""
    transfer_encoding: str | None = attrs.field(default=None, validator=_optional_text)
    content_length: int | None = attrs.field(default=None, validator=_optional_count)
    """The body's size in bytes as the app saw it (the Go SDK's `content_length`)."""

    def __attrs_post_init__(self) -> None:
        _normalize_body(self)


@attrs.define(kw_only=True, eq=True)
class EventResponseModel:
    """The HTTP response half of an API call; leave it out when none came (a timeout)."""

    time: datetime = attrs.field(converter=_to_utc_millis, validator=_time)
    status: int = attrs.field(validator=_status)
    headers: dict[str, str] = attrs.field(converter=_join_headers, validator=_headers)
    ip_address: str | None = attrs.field(default=None, validator=_optional_text)
    body: object = None
    """A JSON value, or `bytes` (sent as base64 with ``transfer_encoding="base64"``)."""
    transfer_encoding: str | None = attrs.field(default=None, validator=_optional_text)
    content_length: int | None = attrs.field(default=None, validator=_optional_count)
    """The body's size in bytes as the app saw it (the Go SDK's `content_length`)."""

    def __attrs_post_init__(self) -> None:
        _normalize_body(self)


@attrs.define(kw_only=True, eq=True)
class SpanModel:
    """The OpenTelemetry span an API call is, within the trace named by `trace_id`.

    The wire key of the parent is `parent_id`, as the reference's field table says;
    its example spells it `parent_span_id`, which `from_dict` also reads.

    >>> SpanModel(id="00f067aa0ba902b7", parent_id="b3c3f3c3f3c3f3c3").parent_id
    'b3c3f3c3f3c3f3c3'
    """

    id: str | None = attrs.field(default=None, validator=_optional_text)
    parent_id: str | None = attrs.field(default=None, validator=_optional_text)
    links: list[SpanLink] | None = attrs.field(default=None, validator=_span_links)
    """Related traces or spans: each a span id, or a link object (a JSON object)."""
    status: int | None = attrs.field(default=None, validator=_optional_int)
    """The status of the span's operation (an integer, as OpenTelemetry's status code)."""


@attrs.define(kw_only=True, eq=True)
class EventModel:
    """One API call: request, response and who made it.

    `transaction_id` defaults to a new UUID4; Moesif deduplicates on it, so a retried
    send never counts twice.
    """

    request: EventRequestModel = attrs.field(validator=_required_instance_of(EventRequestModel))
    response: EventResponseModel | None = attrs.field(
        default=None,
        validator=_instance_of(EventResponseModel),
    )
    user_id: str | None = attrs.field(default=None, validator=_optional_text)
    company_id: str | None = attrs.field(default=None, validator=_optional_text)
    session_token: str | None = attrs.field(default=None, validator=_optional_text)
    transaction_id: str = attrs.field(factory=_new_transaction_id, validator=_required_text)
    subscription_id: str | None = attrs.field(default=None, validator=_optional_text)
    action_name: str | None = attrs.field(default=None, validator=_optional_text)
    trace_id: str | None = attrs.field(default=None, validator=_optional_text)
    span: SpanModel | None = attrs.field(default=None, validator=_instance_of(SpanModel))
    direction: Direction | None = attrs.field(default=None, validator=_direction)
    weight: int | None = attrs.field(default=None, validator=_weight)
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)
    tags: str | None = attrs.field(default=None, validator=_optional_text)
    blocked_by: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.define(kw_only=True, eq=True)
class CampaignModel:
    """Where a user or company came from: UTM parameters, referrer and ad click id."""

    utm_source: str | None = attrs.field(default=None, validator=_optional_text)
    utm_medium: str | None = attrs.field(default=None, validator=_optional_text)
    utm_campaign: str | None = attrs.field(default=None, validator=_optional_text)
    utm_term: str | None = attrs.field(default=None, validator=_optional_text)
    utm_content: str | None = attrs.field(default=None, validator=_optional_text)
    referrer: str | None = attrs.field(default=None, validator=_optional_text)
    referring_domain: str | None = attrs.field(default=None, validator=_optional_text)
    gclid: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.define(kw_only=True, eq=True)
class UserModel:
    """An end user profile; an update is merged into the stored profile (an upsert)."""

    user_id: str = attrs.field(validator=_required_text)
    company_id: str | None = attrs.field(default=None, validator=_optional_text)
    modified_time: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    ip_address: str | None = attrs.field(default=None, validator=_optional_text)
    session_token: str | None = attrs.field(default=None, validator=_optional_text)
    user_agent_string: str | None = attrs.field(default=None, validator=_optional_text)
    campaign: CampaignModel | None = attrs.field(
        default=None,
        validator=_instance_of(CampaignModel),
    )
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)


@attrs.define(kw_only=True, eq=True)
class CompanyModel:
    """A company (account) profile; an update is merged into the stored profile."""

    company_id: str = attrs.field(validator=_required_text)
    company_domain: str | None = attrs.field(default=None, validator=_optional_text)
    modified_time: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    ip_address: str | None = attrs.field(default=None, validator=_optional_text)
    session_token: str | None = attrs.field(default=None, validator=_optional_text)
    campaign: CampaignModel | None = attrs.field(
        default=None,
        validator=_instance_of(CampaignModel),
    )
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)


@attrs.define(kw_only=True, eq=True)
class ActionRequestModel:
    """Where a user action happened: the page or endpoint, and when."""

    uri: str = attrs.field(validator=_required_text)
    time: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    ip_address: str | None = attrs.field(default=None, validator=_optional_text)
    user_agent_string: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.define(kw_only=True, eq=True)
class ActionModel:
    """A user action that is not an API call, such as "Signed Up" or "Clicked Buy"."""

    action_name: str = attrs.field(validator=_required_text)
    request: ActionRequestModel = attrs.field(validator=_required_instance_of(ActionRequestModel))
    transaction_id: str = attrs.field(factory=_new_transaction_id, validator=_required_text)
    session_token: str | None = attrs.field(default=None, validator=_optional_text)
    user_id: str | None = attrs.field(default=None, validator=_optional_text)
    company_id: str | None = attrs.field(default=None, validator=_optional_text)
    subscription_id: str | None = attrs.field(default=None, validator=_optional_text)
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)


@attrs.define(kw_only=True, eq=True)
class SubscriptionItemModel:
    """One plan or price a subscription is for.

    The fields are the Collector reference's item schema ("items (Subscription Items)"
    under Update a Subscription). `item_price_id`, `status` and `quantity` are not in
    it: the first two belong to the Management API's subscription items, the last to
    no Moesif schema, so the Collector is not sent them.
    """

    plan_id: str = attrs.field(validator=_required_text)
    subscription_item_id: str | None = attrs.field(default=None, validator=_optional_text)
    price_id: str | None = attrs.field(default=None, validator=_optional_text)
    unit_of_measure: str | None = attrs.field(default=None, validator=_optional_text)
    created_at: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)


@attrs.define(kw_only=True, eq=True)
class SubscriptionModel:
    """A company's subscription to a plan; an update is merged into the stored one."""

    subscription_id: str = attrs.field(validator=_required_text)
    company_id: str = attrs.field(validator=_required_text)
    status: str | None = attrs.field(default=None, validator=_optional_text)
    current_period_start: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    current_period_end: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    items: list[SubscriptionItemModel] | None = attrs.field(
        default=None,
        validator=_list_of(SubscriptionItemModel),
    )
    metadata: Mapping[str, object] | None = attrs.field(default=None, validator=_optional_object)


# --- what GET /config and GET /rules return ---
#
# Read models: what the server sends is read leniently (`moesifapi._wire`): each keeps
# the keys it does not know in `extra`, and takes an integral float for an int. Their
# lists and mappings default to empty, so reading them needs no None checks.


def _any_text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        if value is None:
            raise _fail(attribute, "is required (a string), got None")
        raise _fail(attribute, f"must be a string, got {_describe(value)}")


def _extra_field() -> Any:
    """The `extra` mapping of a read model: the keys of its JSON it has no field for."""
    return attrs.field(factory=dict, validator=_object)


@attrs.define(kw_only=True, eq=True)
class RegexCondition:
    """One condition: the event's value at `path` must match the regular expression `value`.

    `path` names a part of the request, such as ``request.route``, ``request.verb``,
    ``request.ip_address``, ``response.status``, ``request.headers.<name>`` or
    ``request.body.<field>``.
    """

    path: str = attrs.field(validator=_required_text)
    value: str = attrs.field(validator=_any_text)
    extra: Mapping[str, object] = _extra_field()


@attrs.define(kw_only=True, eq=True)
class RegexSamplingRule:
    """A dynamic sampling rule: events matching every condition are kept at `sample_rate` %."""

    conditions: list[RegexCondition] = attrs.field(
        factory=list, validator=_list_of(RegexCondition, optional=False)
    )
    sample_rate: int = attrs.field(validator=_required_int)
    extra: Mapping[str, object] = _extra_field()


@attrs.define(kw_only=True, eq=True)
class RegexConditionGroup:
    """One group of a governance rule's `regex_config`: matched when all its conditions are.

    A rule's `regex_config` is a list of groups, matched when any group is (an OR of
    ANDs); an empty list matches every request.
    """

    conditions: list[RegexCondition] = attrs.field(
        factory=list, validator=_list_of(RegexCondition, optional=False)
    )
    extra: Mapping[str, object] = _extra_field()


@attrs.define(kw_only=True, eq=True)
class EntityRuleValues:
    """A user's or company's entry for one governance rule, in `AppConfig.user_rules`.

    `rules` is the rule's id (`GovernanceRule.id`); `values` fill the rule's variables
    (``{{0}}`` in its response is ``values["0"]``). An entry means the user or company
    is in the rule's cohort.
    """

    rules: str = attrs.field(validator=_required_text)
    values: Mapping[str, str] = attrs.field(
        factory=dict, validator=_mapping_of(str, "a string", optional=False)
    )
    extra: Mapping[str, object] = _extra_field()


def _rules_by_entity(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _fail(attribute, f"must be a mapping of ids to rule entries, got {_describe(value)}")
    for entity, entries in value.items():
        if not isinstance(entity, str):
            raise _fail(attribute, f"keys must be strings, got {_describe(entity)}")
        where = f"{attribute.name}.{entity}"
        if not isinstance(entries, list):
            raise ValidationError(
                f"must be a list of EntityRuleValues, got {_describe(entries)}", field=where
            )
        for index, entry in enumerate(entries):
            if not isinstance(entry, EntityRuleValues):
                raise ValidationError(
                    f"must be an EntityRuleValues, got {_describe(entry)}",
                    field=f"{where}[{index}]",
                )


@attrs.define(kw_only=True, eq=True)
class AppConfig:
    """The app's server-side settings, as `GET /config` returns them.

    `etag` is the `X-Moesif-Config-ETag` header of the answer; when a write's answer
    carries a different one, the config changed and is worth fetching again. Sample
    rates are percentages (0 to 100); `user_sample_rate` and `company_sample_rate` map
    a user or company id to its own rate.
    """

    org_id: str | None = attrs.field(default=None, validator=_optional_text)
    app_id: str | None = attrs.field(default=None, validator=_optional_text)
    sample_rate: int | None = attrs.field(default=None, validator=_optional_int)
    block_bot_traffic: bool | None = attrs.field(default=None, validator=_optional_bool)
    user_sample_rate: Mapping[str, int] = attrs.field(
        factory=dict, validator=_mapping_of(int, "an int sample rate", optional=False)
    )
    company_sample_rate: Mapping[str, int] = attrs.field(
        factory=dict, validator=_mapping_of(int, "an int sample rate", optional=False)
    )
    user_rules: Mapping[str, list[EntityRuleValues]] = attrs.field(
        factory=dict, validator=_rules_by_entity
    )
    company_rules: Mapping[str, list[EntityRuleValues]] = attrs.field(
        factory=dict, validator=_rules_by_entity
    )
    ip_addresses_blocked_by_name: Mapping[str, object] | None = attrs.field(
        default=None, validator=_optional_object
    )
    regex_config: list[RegexSamplingRule] = attrs.field(
        factory=list, validator=_list_of(RegexSamplingRule, optional=False)
    )
    billing_config_jsons: Mapping[str, object] | None = attrs.field(
        default=None, validator=_optional_object
    )
    etag: str | None = attrs.field(default=None, validator=_optional_text)
    extra: Mapping[str, object] = _extra_field()

    def sample_rate_for(self, event: EventModel) -> int:
        """The percentage (0 to 100) of events like `event` to send.

        The first `regex_config` rule whose conditions all match the event gives it;
        else the event's user's rate in `user_sample_rate`; else its company's in
        `company_sample_rate`; else `sample_rate`, and 100 when that is unset. Rates
        outside 0 to 100 are taken as the nearer bound. See
        docs/sampling-and-governance.md for the paths a condition can name.
        """
        return _sampling.sample_rate_for(self, event)


@attrs.define(kw_only=True, eq=True)
class GovernanceResponse:
    """What a governance rule answers in place of the app: status, headers and body.

    Headers are added to the app's answer; `status` and `body` replace it only when the
    rule blocks. Header values and the body may hold ``{{name}}`` variables.
    """

    status: int | None = attrs.field(default=None, validator=_optional_int)
    headers: Mapping[str, str] = attrs.field(
        factory=dict, validator=_mapping_of(str, "a string", optional=False)
    )
    body: object = None
    extra: Mapping[str, object] = _extra_field()


@attrs.define(kw_only=True, eq=True)
class RuleVariable:
    """A variable of a governance rule: ``{{name}}`` is filled from the field at `path`."""

    name: str = attrs.field(validator=_any_text)
    path: str = attrs.field(validator=_any_text)
    extra: Mapping[str, object] = _extra_field()


_RuleType: TypeAlias = Literal["regex", "user", "company"]
_AppliedTo: TypeAlias = Literal["matching", "not_matching"]


@attrs.define(kw_only=True, eq=True)
class GovernanceRule:
    """One governance rule, as `GET /rules` returns it (its JSON key `_id` is `id`).

    A ``"user"`` or ``"company"`` rule applies to the users or companies listed for it in
    `AppConfig.user_rules` / `company_rules` (``applied_to="matching"``) or to all the
    others (``"not_matching"``); a ``"regex"`` rule to every request its `regex_config`
    matches.
    """

    id: str | None = attrs.field(default=None, validator=_optional_text)
    name: str | None = attrs.field(default=None, validator=_optional_text)
    type: _RuleType | None = attrs.field(
        default=None, validator=_one_of("regex", "user", "company")
    )
    block: bool | None = attrs.field(default=None, validator=_optional_bool)
    applied_to: _AppliedTo | None = attrs.field(
        default=None, validator=_one_of("matching", "not_matching")
    )
    applied_to_unidentified: bool | None = attrs.field(default=None, validator=_optional_bool)
    response: GovernanceResponse | None = attrs.field(
        default=None, validator=_instance_of(GovernanceResponse)
    )
    variables: list[RuleVariable] = attrs.field(
        factory=list, validator=_list_of(RuleVariable, optional=False)
    )
    regex_config: list[RegexConditionGroup] = attrs.field(
        factory=list, validator=_list_of(RegexConditionGroup, optional=False)
    )
    # Not in the reference's example; Moesif's Rack middleware documents it in the rule
    # it shows (lib/moesif_rack/governance_rules.rb, "state": 2).
    state: int | None = attrs.field(default=None, validator=_optional_int)
    org_id: str | None = attrs.field(default=None, validator=_optional_text)
    app_id: str | None = attrs.field(default=None, validator=_optional_text)
    created_at: datetime | None = attrs.field(
        default=None, converter=_to_optional_utc_millis, validator=_optional_time
    )
    extra: Mapping[str, object] = _extra_field()


@attrs.frozen
class Health:
    """What the health probe (``GET /health/probe``) said: whether the API is up, and
    which region answered. Keys the server adds later are kept in `extra`.

    The official SDK calls this `StatusModel`; that name is an alias of this class.
    """

    status: bool
    region: str = ""
    extra: Mapping[str, object] = attrs.field(factory=dict)


StatusModel = Health
"""The official SDK's name for `Health`."""
