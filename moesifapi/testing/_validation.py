"""The sandbox's own reading of what each Collector endpoint requires of a body.

Written from the API reference alone, without the client's models, so that the
sandbox is a second opinion on what the client sends rather than a mirror of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["SCHEMAS", "Field", "describe_json_type", "find_problems", "is_iso8601"]

FieldKind = Literal["text", "timestamp", "int", "count", "object", "headers", "array", "list"]

# The reference only says "ISO 8601". Accept what real senders produce: with or
# without a zone (naive times are common, e.g. Python's isoformat()), any number of
# fraction digits, "Z" or a numeric offset with or without its colon (PHP's
# DateTime::ISO8601), and a bare date.
_ISO_8601 = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\ ](?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,]\d+)?)?
        (?P<zone>[Zz]|[+-](?P<zone_hour>\d{2})(?::?(?P<zone_minute>\d{2}))?)?
    )?
    """,
    re.VERBOSE,
)

# A batch with thousands of bad items should still give a readable answer.
MAX_PROBLEMS = 50


def is_iso8601(value: str) -> bool:
    """Whether `value` is an ISO 8601 date or date-time naming a real instant."""
    match = _ISO_8601.fullmatch(value)
    if match is None:
        return False
    part = match.group
    try:
        datetime(
            int(part("year")),
            int(part("month")),
            int(part("day")),
            int(part("hour") or 0),
            int(part("minute") or 0),
            int(part("second") or 0),
        )
    except ValueError:
        return False
    return int(part("zone_hour") or 0) <= 23 and int(part("zone_minute") or 0) <= 59


@dataclass(frozen=True)
class Field:
    """One known key of a body: its JSON kind, whether it must be present, its parts."""

    name: str
    kind: FieldKind
    required: bool = False
    # For objects: rules for the keys inside. For arrays: rules for each element,
    # which must then be an object. A "list" is any JSON array; a "count" an integer
    # of 0 or more.
    children: tuple[Field, ...] = ()


def _text(name: str, *, required: bool = False) -> Field:
    return Field(name, "text", required)


def _metadata() -> Field:
    return Field("metadata", "object")


_CAMPAIGN = Field(
    "campaign",
    "object",
    children=tuple(
        _text(name)
        for name in (
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "referrer",
            "referring_domain",
            "gclid",
        )
    ),
)

_EVENT = (
    Field(
        "request",
        "object",
        required=True,
        children=(
            Field("time", "timestamp", required=True),
            _text("uri", required=True),
            _text("verb", required=True),
            Field("headers", "headers", required=True),
            _text("api_version"),
            _text("ip_address"),
            _text("transfer_encoding"),
            Field("content_length", "count"),  # the Go SDK's
        ),
    ),
    Field(
        "response",
        "object",
        children=(
            Field("time", "timestamp", required=True),
            Field("status", "int", required=True),
            Field("headers", "headers", required=True),
            _text("ip_address"),
            _text("transfer_encoding"),
            Field("content_length", "count"),
        ),
    ),
    _text("user_id"),
    _text("company_id"),
    _text("session_token"),
    _text("transaction_id"),
    _text("subscription_id"),
    _text("action_name"),
    _text("trace_id"),
    Field(
        "span",
        "object",
        children=(
            _text("id"),
            _text("parent_id"),
            _text("parent_span_id"),  # how the reference's own example spells parent_id
            Field("links", "list"),
            Field("status", "int"),
        ),
    ),
    _text("direction"),
    Field("weight", "count"),
    _metadata(),
)

_ACTION = (
    _text("action_name", required=True),
    Field(
        "request",
        "object",
        required=True,
        children=(
            _text("uri", required=True),
            Field("time", "timestamp"),
            _text("ip_address"),
            _text("user_agent_string"),
        ),
    ),
    _text("user_id"),
    _text("company_id"),
    _text("subscription_id"),
    _text("session_token"),
    _text("transaction_id"),
    _metadata(),
)

_USER = (
    _text("user_id", required=True),
    _text("company_id"),
    Field("modified_time", "timestamp"),
    _text("ip_address"),
    _text("session_token"),
    _text("user_agent_string"),
    _CAMPAIGN,
    _metadata(),
)

_COMPANY = (
    _text("company_id", required=True),
    _text("company_domain"),
    Field("modified_time", "timestamp"),
    _text("ip_address"),
    _text("session_token"),
    _CAMPAIGN,
    _metadata(),
)

_SUBSCRIPTION = (
    _text("subscription_id", required=True),
    _text("company_id", required=True),
    _text("status"),
    Field("current_period_start", "timestamp"),
    Field("current_period_end", "timestamp"),
    Field(
        "items",
        "array",
        children=(
            _text("plan_id", required=True),
            _text("subscription_item_id"),
            _text("price_id"),
            _text("unit_of_measure"),
            Field("created_at", "timestamp"),
            _metadata(),
        ),
    ),
    _metadata(),
)

# Keyed by the kind of item each write endpoint stores.
SCHEMAS: Mapping[str, tuple[Field, ...]] = {
    "event": _EVENT,
    "action": _ACTION,
    "user": _USER,
    "company": _COMPANY,
    "subscription": _SUBSCRIPTION,
}


def describe_json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_object(
    value: Mapping[str, object], fields: Sequence[Field], prefix: str, problems: list[str]
) -> None:
    for field in fields:
        _check_field(value.get(field.name), field, _path(prefix, field.name), problems)


def _check_field(value: object, field: Field, path: str, problems: list[str]) -> None:
    # Null is how many senders spell "not set"; the API treats it as absent.
    if value is None:
        if field.required:
            problems.append(f"{path} is required")
        return
    if field.kind == "text":
        if not isinstance(value, str):
            problems.append(f"{path} must be a string, got {describe_json_type(value)}")
        elif field.required and not value.strip():
            problems.append(f"{path} must not be empty")
    elif field.kind == "timestamp":
        if not isinstance(value, str):
            problems.append(
                f"{path} must be an ISO 8601 timestamp string, got {describe_json_type(value)}"
            )
        elif not is_iso8601(value):
            problems.append(f"{path} is not an ISO 8601 timestamp: {value!r}")
    elif field.kind in ("int", "count"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path} must be an integer, got {describe_json_type(value)}")
        elif field.kind == "count" and value < 0:
            problems.append(f"{path} must be 0 or more, got {value}")
    elif field.kind == "headers":
        _check_headers(value, path, problems)
    elif field.kind == "array":
        _check_array(value, field, path, problems)
    elif field.kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path} must be an array, got {describe_json_type(value)}")
    elif not isinstance(value, dict):
        problems.append(f"{path} must be an object, got {describe_json_type(value)}")
    else:
        _check_object(value, field.children, path, problems)


def _check_headers(value: object, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path} must be an object, got {describe_json_type(value)}")
        return
    # The reference asks for Map<string, string> with repeated headers joined by
    # commas. Numbers are tolerated (some middleware sends Content-Length as one);
    # a list means the sender forgot to join repeated headers.
    for name, header_value in value.items():
        if isinstance(header_value, (list, dict)):
            problems.append(
                f"{path}[{name!r}] must be a string, got {describe_json_type(header_value)}"
            )


def _check_array(value: object, field: Field, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{path} must be an array, got {describe_json_type(value)}")
        return
    for index, element in enumerate(value):
        element_path = f"{path}[{index}]"
        if not isinstance(element, dict):
            problems.append(f"{element_path} must be an object, got {describe_json_type(element)}")
        else:
            _check_object(element, field.children, element_path, problems)


def find_problems(kind: str, body: object, *, batch: bool) -> list[str]:
    """Everything wrong with a decoded body for endpoint `kind`, first problems first.

    An empty list means the body is acceptable. Batch items are named by index:

    >>> find_problems("user", [{"user_id": "u1"}, {}], batch=True)
    ['[1].user_id is required']
    """
    fields = SCHEMAS[kind]
    problems: list[str] = []
    if not batch:
        if not isinstance(body, dict):
            return [f"expected a JSON object, got {describe_json_type(body)}"]
        _check_object(body, fields, "", problems)
        return problems[:MAX_PROBLEMS]
    if not isinstance(body, list):
        return [f"a batch must be a JSON array, got {describe_json_type(body)}"]
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            problems.append(f"[{index}] must be an object, got {describe_json_type(item)}")
        else:
            _check_object(item, fields, f"[{index}]", problems)
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems[:MAX_PROBLEMS]
